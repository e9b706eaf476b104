import numpy as np
import pytest

pytest.importorskip("ot", reason="POT (optional dependency) is not installed")

from mne_piunet import metrics  # noqa: E402


@pytest.fixture
def lattice():
    ijk = np.array(list(np.ndindex(8, 8, 8)), float)
    return ijk * 0.007


def test_emd_known_answers(lattice):
    a = np.zeros(len(lattice))
    a[100] = 1.0
    assert metrics.emd(a, a, lattice) == pytest.approx(0.0, abs=1e-9)
    b = np.zeros(len(lattice))
    b[101] = 3.0  # neighbour along z, another scale: only the shape counts
    assert metrics.emd(a, b, lattice) == pytest.approx(7.0)
    vec = np.zeros((len(lattice), 3))
    vec[101] = [0, -2, 0]
    assert metrics.emd(a, vec, lattice) == pytest.approx(7.0)
    # half the mass moved by two voxels: 7 mm on average
    c = np.zeros(len(lattice))
    c[[100, 102]] = 1.0
    assert metrics.emd(a, c, lattice) == pytest.approx(7.0)
    assert metrics.normalized_emd(a, a, lattice) == pytest.approx(0.0, abs=1e-9)
    flat = np.ones(len(lattice))
    assert metrics.normalized_emd(a, flat, lattice) == pytest.approx(1.0)
    pooled = metrics.emd(a, c, lattice, resolution=0.014)
    assert abs(pooled - 7.0) <= np.sqrt(3) * 14
    with pytest.raises(ValueError, match="all zero"):
        metrics.emd(a, np.zeros(len(lattice)), lattice)


def test_localization_error(lattice):
    est = np.zeros(len(lattice))
    est[[0, 511]] = [1.0, 0.8]
    le, missed = metrics.localization_error([1, 510], est, lattice)
    assert le == pytest.approx(7.0) and missed == 0
    le, missed = metrics.localization_error(lattice[[0]], est, lattice)
    assert le == pytest.approx(0.0) and missed == 0
    # two true sources, one peak found (second below threshold): one missed
    est[511] = 0.01
    le, missed = metrics.localization_error([0, 511], est, lattice)
    assert le == pytest.approx(0.0) and missed == 1


def test_dispersion_auc_nmse(lattice):
    true = np.zeros(len(lattice))
    true[200] = 1.0
    assert metrics.spatial_dispersion([200], true, lattice) == pytest.approx(0.0)
    est = true.copy()
    est[201] = 1.0
    assert metrics.spatial_dispersion([200], est, lattice) == pytest.approx(
        7 / np.sqrt(2)
    )
    assert metrics.auc(true, true) == pytest.approx(1.0)
    # scores are amplitudes |i|: the active point outranks the 200 before it
    assert metrics.auc(true, -np.arange(len(lattice))) == pytest.approx(200 / 511)
    assert metrics.nmse(true, 5 * true) == pytest.approx(0.0)
    assert metrics.nmse(true, est) == pytest.approx(1 / len(lattice))
    with pytest.raises(ValueError, match="Shapes differ"):
        metrics.nmse(true, est[:10])
