import matplotlib
import mne
import numpy as np
import pytest

from mne_piunet.viz import plot_cortex, plot_projections

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def cortex_stc(template_surf_forward):
    """A map that is zero but on a few left-hemisphere vertices."""
    vertices = [s["vertno"] for s in template_surf_forward["src"]]
    data = np.zeros((sum(map(len, vertices)), 3))
    data[:20, 1] = np.linspace(1, 2, 20)
    return mne.SourceEstimate(data, vertices, 0.0, 0.01, subject="fsaverage")


def test_plot_cortex(cortex_stc):
    import matplotlib.pyplot as plt

    fig = plot_cortex(cortex_stc, views=("lateral",), show=False)
    assert len(fig.axes) == 3  # left and right hemisphere, colour bar
    assert fig._suptitle.get_text() == "t = 10 ms"  # the peak time
    assert fig.axes[-1].get_ylabel() == "amplitude (A·m)"
    fig = plot_cortex(cortex_stc, time=0.0, surface="pial", units="nA·m", show=False)
    assert len(fig.axes) == 5 and fig._suptitle.get_text() == "t = 0 ms"
    assert fig.axes[-1].get_ylabel() == "amplitude (nA·m)"
    plt.close("all")


def test_plot_cortex_errors(cortex_stc):
    with pytest.raises(ValueError, match="outside the estimate"):
        plot_cortex(cortex_stc, time=1.0, show=False)
    with pytest.raises(ValueError, match="Invalid value for the 'surface'"):
        plot_cortex(cortex_stc, surface="sphere", show=False)
    big = mne.SourceEstimate(
        np.ones((2, 1)), [np.array([5]), np.array([20000])], 0, 1, subject="fsaverage"
    )
    with pytest.raises(ValueError, match="vertex numbers must be below 10242"):
        plot_cortex(big, show=False)
    with pytest.raises(TypeError, match="stc must be an instance of"):
        plot_cortex(np.ones(3), show=False)


def test_plot_projections_labels(sample_vol_forward):
    """A colour bar with units per map; axes labelled in mm along each view."""
    import matplotlib.pyplot as plt

    n = sample_vol_forward["nsource"]
    maps = [np.linspace(0, 1, n), np.linspace(1, 0, n)]
    fig = plot_projections(
        maps, sample_vol_forward, titles=["a", "b"], units=["A·m", "nA·m"], show=False
    )
    bars = [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert bars == ["a: amplitude (A·m)", "b: amplitude (nA·m)"]
    labels = {ax.get_xlabel() for ax in fig.axes if ax.get_label() != "<colorbar>"}
    assert all("mm" in label for label in labels) and len(labels) > 1
    with pytest.raises(ValueError, match="Need one unit per map: 2 maps, 1 units"):
        plot_projections(maps, sample_vol_forward, units=["A·m"], show=False)
    plt.close("all")
