"""Quick views of source maps on any source space (template included)."""

import numpy as np

from ._grid import forward_source_positions
from ._mne_private import validate_type

_VIEWS = (("sagittal", 1, 2), ("coronal", 0, 2), ("axial", 0, 1))


def plot_projections(amplitudes, forward, *, titles=None, cmap="hot", show=True):
    """Plot source amplitude maps as maximum projections in three views.

    Works for every source space, including the template's discrete one
    that ``stc.plot`` cannot show: each source point is drawn at its MRI
    position, strongest on top, in a sagittal, coronal and axial view.

    Parameters
    ----------
    amplitudes : list of array, shape (n_sources,)
        One map per row of the figure (e.g. truth, eLORETA, PIUNet).
    forward : instance of Forward
        The forward the maps live on.
    titles : list of str | None
        Row titles.
    cmap : str
        Matplotlib colour map; each row is scaled to its own maximum.
    show : bool
        Show the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    """
    import matplotlib.pyplot as plt

    validate_type(amplitudes, (list, tuple), "amplitudes")
    pos = 1e3 * forward_source_positions(forward)
    n_rows = len(amplitudes)
    fig, axes = plt.subplots(
        n_rows, 3, figsize=(9, 2.8 * n_rows), squeeze=False, layout="constrained"
    )
    for row, amp in enumerate(amplitudes):
        amp = np.abs(np.asarray(amp, float))
        order = np.argsort(amp)  # strongest drawn last, on top
        for ax, (view, i, j) in zip(axes[row], _VIEWS, strict=True):
            ax.scatter(
                pos[order, i],
                pos[order, j],
                c=amp[order],
                s=12,
                cmap=cmap,
                vmin=0,
                vmax=amp.max() or 1,
            )
            ax.set(aspect="equal", xticks=[], yticks=[], facecolor="0.15")
            if row == 0:
                ax.set_title(view)
        if titles is not None:
            axes[row, 0].set_ylabel(titles[row])
    if show:
        plt.show()
    return fig
