"""Quick views of source maps without a 3D display (template included)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    import matplotlib.figure
    import mne

import numpy as np

from ._grid import forward_source_positions
from ._mne_private import check_option, validate_type

FSAVERAGE5_VERTICES = 10242  # per hemisphere: fsaverage's first 10,242 vertices

_VIEWS = (("sagittal", 1, 2), ("coronal", 0, 2), ("axial", 0, 1))


# the axes of each view in MRI coordinates (RAS): horizontal, vertical labels
_VIEW_LABELS = {
    "sagittal": ("posterior - anterior (mm)", "inferior - superior (mm)"),
    "coronal": ("left - right (mm)", "inferior - superior (mm)"),
    "axial": ("left - right (mm)", "posterior - anterior (mm)"),
}


def plot_projections(
    amplitudes: list,
    forward: mne.Forward,
    *,
    titles: list[str] | None = None,
    units: str | list[str] = "A·m",
    cmap: str = "hot",
    show: bool = True,
) -> matplotlib.figure.Figure:
    """Plot source amplitude maps as maximum projections in three views.

    Works for every source space, including the template's discrete one
    that ``stc.plot`` cannot show: each source point is drawn at its MRI
    position, strongest on top, in a sagittal, coronal and axial view
    (axes in mm, MRI coordinates), with a colour bar per row.

    Parameters
    ----------
    amplitudes : list of array, shape (n_sources,)
        One map per row of the figure (e.g. truth, eLORETA, PIUNet).
    forward : instance of Forward
        The forward the maps live on.
    titles : list of str | None
        Row titles.
    units : str | list of str
        The unit of the maps (one for all, or one per row), shown on the
        colour bars.
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
    units = [units] * len(amplitudes) if isinstance(units, str) else list(units)
    if len(units) != len(amplitudes):
        raise ValueError(
            f"Need one unit per map: {len(amplitudes)} maps, {len(units)} units"
        )
    pos = 1e3 * forward_source_positions(forward)
    n_rows = len(amplitudes)
    fig, axes = plt.subplots(
        n_rows, 3, figsize=(10, 3.0 * n_rows), squeeze=False, layout="constrained"
    )
    for row, amp in enumerate(amplitudes):
        amp = np.abs(np.asarray(amp, float))
        order = np.argsort(amp)  # strongest drawn last, on top
        for ax, (view, i, j) in zip(axes[row], _VIEWS, strict=True):
            points = ax.scatter(
                pos[order, i],
                pos[order, j],
                c=amp[order],
                s=12,
                cmap=cmap,
                vmin=0,
                vmax=amp.max() or 1,
            )
            ax.set(aspect="equal", facecolor="0.15")
            ax.tick_params(labelsize=7)
            xlabel, ylabel = _VIEW_LABELS[view]
            ax.set_xlabel(xlabel, fontsize=7)
            ax.set_ylabel(ylabel, fontsize=7)
            if row == 0:
                ax.set_title(view)
        label = f"amplitude ({units[row]})"
        if titles is not None:
            label = f"{titles[row]}: {label}"
        fig.colorbar(points, ax=axes[row].tolist(), shrink=0.9, label=label)
    if show:
        plt.show()
    return fig


def plot_cortex(
    stc: mne.SourceEstimate,
    *,
    time: float | None = None,
    surface: str = "inflated",
    views: tuple[str, ...] = ("lateral", "medial"),
    cmap: str | None = None,
    threshold: float | None = None,
    units: str = "A·m",
    show: bool = True,
) -> matplotlib.figure.Figure:
    """Draw a cortical source estimate on the fsaverage5 cortex, headless.

    Uses matplotlib through :func:`nilearn.plotting.plot_surf_stat_map`
    (nilearn ships the fsaverage5 meshes), so it works on servers and in
    documentation builds where ``stc.plot`` (a 3D window) does not.

    Parameters
    ----------
    stc : SourceEstimate | VectorSourceEstimate
        An estimate on fsaverage vertices below 10,242 per hemisphere (for
        example from the template of
        :func:`mne_piunet.template.make_template_forward` with
        ``source_space="surface"``); vector estimates are drawn as their
        magnitude.
    time : float | None
        The time (s) to draw; ``None``: when the largest absolute value
        occurs.
    surface : "inflated" | "pial" | "white"
        The fsaverage5 mesh to draw on (sulcal depth as background).
    views : tuple of str
        Views per hemisphere (``"lateral"``, ``"medial"``, ``"dorsal"``,
        ``"ventral"``, ``"anterior"``, ``"posterior"``).
    cmap : str | None
        Matplotlib colour map, scaled to the largest absolute value;
        ``None``: ``"hot"`` for non-negative maps (e.g. amplitudes), the
        diverging ``"cold_hot"`` for signed ones (e.g. ``pick_ori="normal"``).
    threshold : float | None
        Values whose absolute value is below this are not drawn (the sulcal
        background shows); ``None``: 10 % of the largest absolute value.
    units : str
        The unit of the estimate, shown on the colour bar.
    show : bool
        Show the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One row per view, left and right hemisphere side by side.
    """
    import matplotlib.pyplot as plt
    from mne import SourceEstimate, VectorSourceEstimate
    from nilearn.datasets import fetch_surf_fsaverage
    from nilearn.plotting import plot_surf_stat_map

    validate_type(stc, (SourceEstimate, VectorSourceEstimate), "stc")
    check_option("surface", surface, ("inflated", "pial", "white"))
    values = stc.magnitude().data if isinstance(stc, VectorSourceEstimate) else stc.data
    column = _time_index(stc, values, time)
    maps = _fsaverage5_maps(stc.vertices, values[:, column])
    vmax = max(np.abs(m).max() for m in maps) or 1.0
    signed = min(m.min() for m in maps) < 0
    if cmap is None:
        cmap = "cold_hot" if signed else "hot"
    threshold = 0.1 * vmax if threshold is None else threshold
    mesh = fetch_surf_fsaverage("fsaverage5")
    mesh_name = dict(inflated="infl", pial="pial", white="white")[surface]
    fig, axes = plt.subplots(
        len(views),
        2,
        figsize=(6, 2.6 * len(views)),
        subplot_kw=dict(projection="3d"),
        squeeze=False,
    )
    for col, (hemi, side) in enumerate((("left", "lh"), ("right", "rh"))):
        for row, view in enumerate(views):
            plot_surf_stat_map(
                mesh[f"{mesh_name}_{hemi}"],
                maps[col],
                hemi=hemi,
                view=view,
                bg_map=mesh[f"sulc_{hemi}"],
                cmap=cmap,
                vmin=-vmax if signed else 0.0,
                vmax=vmax,
                threshold=threshold,
                symmetric_cbar=signed,
                colorbar=False,
                axes=axes[row, col],
                figure=fig,
                engine="matplotlib",
            )
            axes[row, col].set_title(f"{side} {view}", fontsize=9)
    fig.subplots_adjust(left=0, right=0.85, bottom=0, top=0.9, wspace=0, hspace=0.05)
    _cortex_colorbar(fig, cmap, -vmax if signed else 0.0, vmax, units, signed)
    fig.suptitle(f"t = {stc.times[column] * 1e3:.0f} ms")
    if show:
        plt.show()
    return fig


def _cortex_colorbar(fig, cmap, vmin, vmax, units, signed):
    """Add the colour bar of :func:`plot_cortex` at the figure's right edge."""
    import matplotlib as mpl
    from nilearn.plotting import cm

    # nilearn's own maps ("cold_hot") are attributes of its cm module
    cmap = getattr(cm, cmap, cmap) if isinstance(cmap, str) else cmap
    mappable = mpl.cm.ScalarMappable(mpl.colors.Normalize(vmin, vmax), cmap)
    what = "signed amplitude along the normal" if signed else "amplitude"
    cax = fig.add_axes([0.88, 0.15, 0.03, 0.65])
    fig.colorbar(mappable, cax=cax, label=f"{what} ({units})")


def _time_index(stc, values, time):
    if time is None:
        return int(np.abs(values).max(axis=0).argmax())
    if not stc.times[0] - stc.tstep / 2 <= time <= stc.times[-1] + stc.tstep / 2:
        raise ValueError(
            f"time {time} s is outside the estimate ({stc.times[0]:.3f} to "
            f"{stc.times[-1]:.3f} s)"
        )
    return int(stc.time_as_index(time, use_rounding=True)[0])


def _fsaverage5_maps(vertices, values):
    """Scatter per-vertex values onto full fsaverage5 hemispheres (zeros elsewhere)."""
    maps, row = [], 0
    for hemi_vertices in vertices:
        if len(hemi_vertices) and hemi_vertices.max() >= FSAVERAGE5_VERTICES:
            raise ValueError(
                "plot_cortex draws on fsaverage5: vertex numbers must be below "
                f"{FSAVERAGE5_VERTICES}, got up to {hemi_vertices.max()} (morph "
                "the estimate to fsaverage's ico-5 vertices first)"
            )
        full = np.zeros(FSAVERAGE5_VERTICES)
        full[hemi_vertices] = values[row : row + len(hemi_vertices)]
        maps.append(full)
        row += len(hemi_vertices)
    if len(maps) != 2:
        raise ValueError(f"Need a two-hemisphere estimate, got {len(maps)} parts")
    return maps
