import mne
import numpy as np
import pytest
from conftest import tiny_model
from numpy.testing import assert_allclose

from mne_piunet import apply_piunet
from mne_piunet._grid import forward_source_positions
from mne_piunet._inverse import INDEPENDENT_SAMPLES
from mne_piunet._sensors import forward_eeg_info
from mne_piunet.benchmark import (
    METHODS,
    BenchmarkConfig,
    _estimate,
    _full_vector,
    read_csv,
    run_benchmark,
    write_report,
)


@pytest.fixture(scope="module")
def records(sample_vol_forward):
    pytest.importorskip("ot")
    fwd = mne.pick_types_forward(sample_vol_forward, meg=False, eeg=True)
    config = BenchmarkConfig(
        snr_db=(30.0,),
        n_sources=(1,),
        extent=(0.005, 0.008),
        n_samples=2,
        methods=METHODS,
        seed=3,
    )
    return run_benchmark(fwd, tiny_model(fwd), config), fwd


def test_every_method_is_scored(records):
    records, _ = records
    assert sorted({r["method"] for r in records}) == sorted(METHODS)
    assert len(records) == 2 * len(METHODS)
    for r in records:
        assert 0 <= r["nemd"] <= 2, r
        assert r["n_sources"] == 1 and r["snr_db"] == 30.0
        assert 5 <= r["extent_mm"] <= 8
        assert r["time_s"] > 0
    # One focal source at 30 dB: sLORETA (zero-bias in theory) peaks within
    # two grid steps (10 mm) of it.
    sloreta = [r["loc_error_mm"] for r in records if r["method"] == "sLORETA"]
    assert np.nanmax(sloreta) <= 20


def test_report_files(records, tmp_path):
    records, _ = records
    text = write_report(records, tmp_path, "head", header="made by a test\n")
    assert "made by a test" in text and "| 1 | 30 |" in text
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "head.csv" in names and "head.md" in names
    assert "head-nemd.png" in names and "head-loc_error_mm.png" in names
    assert len((tmp_path / "head.csv").read_text().splitlines()) == len(records) + 1
    back = read_csv(tmp_path / "head.csv")  # round trip, numbers as numbers
    assert [r["method"] for r in back] == [r["method"] for r in records]
    for got, want in zip(back, records, strict=True):
        assert got["n_sources"] == want["n_sources"] and got["sample"] == want["sample"]
        assert_allclose([got["nemd"], got["snr_db"]], [want["nemd"], want["snr_db"]])


def test_sparse_estimate_scattered_to_all_sources(sample_vol_forward):
    src = sample_vol_forward["src"]
    vertno = src[0]["vertno"]
    stc = mne.VolVectorSourceEstimate(
        np.ones((2, 3, 1)), [vertno[[3, 10]]], tmin=0, tstep=1
    )
    full = _full_vector(stc, src)
    assert full.shape == (len(vertno), 3, 1)
    assert sorted(np.flatnonzero(full[:, 0, 0])) == [3, 10]
    assert len(forward_source_positions(sample_vol_forward)) == len(vertno)


def test_unknown_method(sample_vol_forward):
    with pytest.raises(ValueError, match="Invalid value for the 'method' parameter"):
        run_benchmark(sample_vol_forward, None, BenchmarkConfig(methods=("sLORETTA",)))


def test_blend_share_is_checked():
    with pytest.raises(ValueError, match="blend must be a number from 0 to 1"):
        BenchmarkConfig(blend=2.0)


def test_piunet_sees_each_sample_at_the_covariance_noise(sample_vol_forward):
    """PIUNet gets samples scaled to the ad-hoc noise level, scaled back after.

    The estimate scales with the data, so it equals PIUNet on the data as
    simulated.
    """
    fwd = mne.pick_types_forward(sample_vol_forward, meg=False, eeg=True)
    model = tiny_model(fwd)
    config = BenchmarkConfig()
    rng = np.random.default_rng(0)
    gain = fwd["sol"]["data"]
    data = gain @ rng.standard_normal((gain.shape[1], 3)) * 1e-9
    evoked = mne.EvokedArray(data - data.mean(axis=0), forward_eeg_info(fwd))
    noise_vars = np.array([1e-12, 4e-10, 3e-11])  # the ad-hoc one: 4e-14
    est = _estimate("PIUNet", evoked, fwd, model, config, noise_vars)
    direct = apply_piunet(
        evoked,
        fwd,
        model,
        lambda2=config.lambda2,
        pick_ori="vector",
        **INDEPENDENT_SAMPLES,
        verbose=False,
    )
    assert_allclose(est, direct.data, rtol=1e-4, atol=1e-6 * np.abs(est).max())


@pytest.mark.parametrize("extent", [(0.02, 0.01), (0.0, 0.01)])
def test_extent_is_checked(extent):
    with pytest.raises(ValueError, match="extent must be positive and ordered"):
        BenchmarkConfig(extent=extent)


def test_patches_need_a_cortex(sample_vol_forward):
    with pytest.raises(ValueError, match="Invalid value for the 'sources'"):
        BenchmarkConfig(sources="dipoles")
    config = BenchmarkConfig(sources="patches", n_samples=1, methods=("eLORETA",))
    with pytest.raises(ValueError, match="surface source space"):
        run_benchmark(sample_vol_forward, None, config)


def test_patch_cells_on_the_cortex(template_surf_forward):
    pytest.importorskip("ot")
    config = BenchmarkConfig(
        sources="patches",
        snr_db=(20.0,),
        n_sources=(1,),
        n_samples=3,
        methods=("eLORETA",),
        seed=2,
    )
    records = run_benchmark(template_surf_forward, None, config)
    assert len(records) == 3
    for r in records:
        assert 0 < r["nemd"] < 1 and r["extent_mm"] >= np.sqrt(1e-4 / np.pi) * 1e3


def test_noise_from_a_covariance(sample_meg_forward, sample_evoked, sample_cov):
    """The SNR is the whitened signal-to-noise power ratio; noise ~ the covariance."""
    from mne.cov import compute_whitener

    from mne_piunet.benchmark import _coloured_data

    info = sample_evoked.copy().pick("meg").info
    fwd = mne.pick_types_forward(sample_meg_forward, meg=True, eeg=False)
    sources = np.random.default_rng(1).standard_normal((3, fwd["nsource"], 3))
    high, low = (
        _coloured_data(fwd, info, sample_cov, sources, snr, np.random.default_rng(0))
        for snr in (20.0, 0.0)
    )
    signal = (high - low) * 10 / 9  # amplitudes 10x apart, the same noise
    noise = high - signal
    whitener = compute_whitener(
        sample_cov.copy().pick_channels(info["ch_names"], ordered=True), info
    )[0]
    power = [((whitener @ x) ** 2).sum(axis=0) for x in (signal, noise)]
    assert_allclose(power[0] / power[1], 100.0, rtol=1e-6)
    # whitened noise is white: about one unit of power per non-projected channel
    rank = len(info["ch_names"]) - 3  # three SSP projectors
    assert_allclose(power[1] / rank, 1.0, rtol=0.3)


def test_benchmark_with_noise_covariance(sample_meg_forward, sample_evoked, sample_cov):
    """MEG data with the recording's noise: cleaner data give better maps."""
    pytest.importorskip("ot")
    info = sample_evoked.copy().pick("meg").info
    config = BenchmarkConfig(
        snr_db=(-10.0, 40.0),
        n_sources=(1,),
        extent=(0.005, 0.008),
        n_samples=4,
        methods=("eLORETA",),
        seed=3,
    )
    records = run_benchmark(
        sample_meg_forward, None, config, info=info, noise_cov=sample_cov
    )
    nemd = {
        snr: np.median([r["nemd"] for r in records if r["snr_db"] == snr])
        for snr in config.snr_db
    }
    assert nemd[40.0] < nemd[-10.0]
    with pytest.raises(ValueError, match="needs the data's info"):
        run_benchmark(sample_meg_forward, None, config, noise_cov=sample_cov)
    lcmv = BenchmarkConfig(methods=("eLORETA", "LCMV"))
    with pytest.raises(ValueError, match=r"\['LCMV'\] cannot run"):
        run_benchmark(sample_meg_forward, None, lcmv, info=info, noise_cov=sample_cov)
