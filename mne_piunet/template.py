"""The template head model: an M/EEG forward on fsaverage, built offline.

When the real fsaverage BEM is on disk (``mne.datasets.fetch_fsaverage`` put it
under MNE's data folder or ``SUBJECTS_DIR``) it is used. Otherwise the 3-layer
conductor is built from what the ``mne`` wheel ships: the fsaverage inner skull
(decimated to ico-4) and scalp, plus an *approximated* outer skull: the inner
skull moved outward along its normals by ``skull_thickness`` (7 mm), or less
where the scalp is closer, always staying ``scalp_gap`` (3 mm) inside the
scalp. Real skulls vary from about 4 to 10 mm; the approximation makes the skull
a smooth shell of near-constant thickness.
"""

import hashlib
import json
import tempfile
from pathlib import Path

import mne
import numpy as np
from mne.utils import get_config, logger, verbose
from scipy.spatial import cKDTree

from ._io import data_dir, read_cached, write_cached
from ._mne_private import (
    check_option,
    get_solids,
    ico_downsample,
    surfaces_to_bem,
    validate_type,
)
from ._sensors import DATA_TYPES, channel_types, modality

_TEMPLATE_VERSION = 1  # bump when the construction changes: invalidates caches
CONDUCTIVITY = (0.3, 0.006, 0.3)
SKULL_THICKNESS = 0.007


def _mne_fsaverage_dir():
    return Path(mne.__file__).parent / "data" / "fsaverage"


def _find_real_fsaverage_bem():
    candidates = []
    for root in (get_config("SUBJECTS_DIR"), get_config("MNE_DATA", "~/mne_data")):
        if root:
            root = Path(root).expanduser()
            candidates += [
                root / "fsaverage",
                root / "MNE-fsaverage-data" / "fsaverage",
            ]
    for subject_dir in candidates:
        fname = subject_dir / "bem" / "fsaverage-5120-5120-5120-bem.fif"
        if fname.is_file():
            return fname
    return None


def make_outer_skull(
    inner_skull: dict,
    scalp: dict,
    *,
    skull_thickness: float = SKULL_THICKNESS,
    scalp_gap: float = 0.003,
) -> dict:
    """Approximate an outer skull between an inner skull and a scalp surface.

    Parameters
    ----------
    inner_skull : dict
        Inner skull surface (``rr`` in metres, ``tris``).
    scalp : dict
        Scalp surface, enclosing the inner skull.
    skull_thickness : float
        Wanted skull thickness in metres.
    scalp_gap : float
        Least distance kept between the outer skull and the scalp.

    Returns
    -------
    outer_skull : dict
        Surface with the inner skull's triangulation.
    """
    inner = _outward(inner_skull)
    scalp_pts = np.concatenate(
        [scalp["rr"], scalp["rr"][scalp["tris"]].mean(axis=1)], axis=0
    )
    dist, _ = cKDTree(scalp_pts).query(inner["rr"])
    offset = np.clip(np.minimum(skull_thickness, dist - scalp_gap), 0.001, None)
    # Smooth the offsets over the mesh so the shell has no steps.
    adjacency = mne.surface.mesh_edges(inner["tris"]).tocsr()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    for _ in range(3):
        offset = np.minimum(offset, (adjacency @ offset + offset) / (degree + 1))
    # Move radially from the centre rather than along the normals: for a
    # star-shaped inner skull this cannot fold the shell over itself.
    center = inner["rr"].mean(axis=0)
    radial = inner["rr"] - center
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    rr = inner["rr"] + offset[:, None] * radial
    if _outside(inner["rr"], dict(rr=rr, tris=inner["tris"])).any():
        raise RuntimeError("Could not build an outer skull around this inner skull")
    logger.info(
        f"    Approximated outer skull: thickness {np.median(offset) * 1e3:.1f} mm "
        f"median ({offset.min() * 1e3:.1f}-{offset.max() * 1e3:.1f} mm)"
    )
    return dict(rr=rr, tris=inner["tris"].copy())


def _outside(points, surf):
    """Points not enclosed exactly once by ``surf`` (outside or in a fold)."""
    solid = get_solids(surf["rr"][surf["tris"]], points) / (2 * np.pi)
    return np.abs(solid - 1.0) > 1e-5


def _outward(surf):
    """Return the surface with normals (and triangle winding) facing outward."""
    out = mne.surface.complete_surface_info(
        dict(rr=surf["rr"].copy(), tris=surf["tris"].copy()), verbose=False
    )
    if np.mean(np.sum(out["nn"] * (out["rr"] - out["rr"].mean(axis=0)), 1)) < 0:
        out = mne.surface.complete_surface_info(
            dict(rr=out["rr"], tris=out["tris"][:, ::-1].copy()), verbose=False
        )
    return out


@verbose
def make_approx_bem(
    inner_skull: dict,
    scalp: dict,
    *,
    conductivity: tuple[float, float, float] = CONDUCTIVITY,
    skull_thickness: float = SKULL_THICKNESS,
    verbose: bool | str | int | None = None,
) -> mne.bem.ConductorModel:
    """Build a 3-layer BEM solution from inner skull and scalp surfaces.

    Parameters
    ----------
    inner_skull : dict
        Inner skull surface (metres, MRI frame).
    scalp : dict
        Scalp surface (metres, MRI frame).
    conductivity : tuple of float
        Brain, skull and scalp conductivities in S/m.
    skull_thickness : float
        Thickness of the approximated skull in metres.
    %(verbose)s

    Returns
    -------
    bem : instance of ConductorModel
        The BEM solution.
    """
    inner_skull, scalp = _outward(inner_skull), _outward(scalp)
    outer = make_outer_skull(inner_skull, scalp, skull_thickness=skull_thickness)
    surfs = [
        dict(rr=s["rr"] * 1e3, tris=s["tris"]) for s in (inner_skull, outer, scalp)
    ]
    ids = [
        mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_BRAIN,
        mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_SKULL,
        mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_HEAD,
    ]
    surfs = surfaces_to_bem(surfs, ids, list(conductivity))
    return mne.make_bem_solution(surfs, verbose=False)


def _template_bem(conductivity, skull_thickness, real_bem):
    if real_bem is not None:
        logger.info(f"    Using the real fsaverage BEM {real_bem}")
        return mne.read_bem_solution(real_bem, verbose=False)
    name = "-".join(f"{c:g}" for c in conductivity)
    if skull_thickness != SKULL_THICKNESS:  # default names as before: caches stay
        name += f"-skull{skull_thickness * 1e3:g}mm"
    fname = data_dir("template") / f"approx-v{_TEMPLATE_VERSION}-{name}-bem-sol.fif"
    bem = read_cached(fname, mne.read_bem_solution)
    if bem is not None:
        return bem
    fs_dir = _mne_fsaverage_dir()
    inner = mne.read_bem_surfaces(
        fs_dir / "fsaverage-inner_skull-bem.fif", verbose=False
    )[0]
    inner = ico_downsample(inner, 4)
    scalp = mne.read_bem_surfaces(fs_dir / "fsaverage-head.fif", verbose=False)[0]
    logger.info("    Building the approximated 3-layer fsaverage BEM (once)...")
    bem = make_approx_bem(
        inner, scalp, conductivity=conductivity, skull_thickness=skull_thickness
    )
    return write_cached(fname, bem, mne.write_bem_solution, mne.read_bem_solution)


def make_template_info(montage: str = "easycap-M10", sfreq: float = 250.0) -> mne.Info:
    """Return the measurement info of a montage, as the template forward uses it.

    Parameters
    ----------
    montage : str | DigMontage
        The montage, as in :func:`make_template_forward`.
    sfreq : float
        Sampling frequency in Hz.

    Returns
    -------
    info : instance of Info
        EEG channels of the montage, positioned, without projectors.
    """
    return _montage_info(montage, sfreq)


def _montage_info(montage, sfreq=250.0):
    validate_type(montage, (str, mne.channels.DigMontage, mne.Info), "montage")
    if isinstance(montage, mne.Info):  # the recording's own sensors, MEG too
        return mne.pick_info(montage, mne.pick_types(montage, **DATA_TYPES))
    if isinstance(montage, str):
        montage = mne.channels.make_standard_montage(montage)
    ch_names = montage.ch_names
    info = mne.create_info(ch_names, sfreq, "eeg")
    info.set_montage(montage)
    return info


def _real_bem_for(conductivity, skull_thickness=SKULL_THICKNESS):
    """Return the real fsaverage BEM if on disk and the head is the default one."""
    if tuple(conductivity) != CONDUCTIVITY or skull_thickness != SKULL_THICKNESS:
        return None
    return _find_real_fsaverage_bem()


def _forward_cache_fname(
    info, source_space, spacing, conductivity, mindist, skull_thickness=SKULL_THICKNESS
):
    real = _real_bem_for(conductivity, skull_thickness)
    bem_kind = "approx" if real is None else "fsaverage-5120"
    key = _cache_key(
        info, source_space, spacing, conductivity, mindist, bem_kind, skull_thickness
    )
    return data_dir("template") / f"template-{key}-fwd.fif"


def _cache_key(
    info, source_space, spacing, conductivity, mindist, bem_kind, skull_thickness
):
    pos = np.array([ch["loc"][:3] for ch in info["chs"]]).round(6)
    settings = dict(
        version=_TEMPLATE_VERSION,
        ch_names=info["ch_names"],
        pos=pos.tolist(),
        spacing=round(float(spacing), 6),
        conductivity=[float(c) for c in conductivity],
        mindist=float(mindist),
        bem=bem_kind,
    )
    if source_space != "volume":  # volume keys as before: caches stay valid
        settings.update(source_space=source_space, spacing=None)
    if skull_thickness != SKULL_THICKNESS:  # likewise for the default skull
        settings.update(skull_thickness=round(float(skull_thickness), 6))
    if modality(channel_types(info)) != "EEG":  # MEG: coils and head position
        settings.update(
            loc=np.array([ch["loc"] for ch in info["chs"]]).round(6).tolist(),
            dev_head_t=info["dev_head_t"]["trans"].round(6).tolist(),
        )
    payload = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def fsaverage5_source_space() -> mne.SourceSpaces:
    """Return a cortical source space on fsaverage, from nilearn's fsaverage5.

    The white-matter surfaces of fsaverage5 (shipped with nilearn, offline)
    are fsaverage's first 10,242 vertices per hemisphere, so the source
    space's vertex numbers are valid fsaverage vertex numbers (for morphing,
    labels and plots on the real fsaverage).

    Returns
    -------
    src : instance of SourceSpaces
        Two surface source spaces (left, right hemisphere), every vertex
        used, in fsaverage's MRI (surface RAS) frame, subject
        ``"fsaverage"``; normals from the mesh.
    """
    import nibabel
    from nilearn.datasets import fetch_surf_fsaverage

    meshes = fetch_surf_fsaverage("fsaverage5")  # package files, no download
    # MNE reads surfaces from a subject folder: a throwaway one holds them.
    with tempfile.TemporaryDirectory() as subjects_dir:
        surf_dir = Path(subjects_dir) / "fsaverage" / "surf"
        surf_dir.mkdir(parents=True)
        for hemi, side in (("lh", "left"), ("rh", "right")):
            rr, tris = nibabel.load(meshes[f"white_{side}"]).agg_data()
            mne.write_surface(surf_dir / f"{hemi}.white", rr, tris)
        return mne.setup_source_space(
            "fsaverage",
            spacing="all",
            add_dist=False,
            subjects_dir=subjects_dir,
            verbose=False,
        )


@verbose
def make_template_forward(
    montage: str | mne.channels.DigMontage | mne.Info = "easycap-M10",
    spacing: float = 0.007,
    *,
    source_space: str = "volume",
    conductivity: tuple[float, float, float] = CONDUCTIVITY,
    mindist: float = 5.0,
    skull_thickness: float = SKULL_THICKNESS,
    cache: bool = True,
    verbose: bool | str | int | None = None,
) -> mne.Forward:
    """Make an M/EEG forward solution on the fsaverage template, offline.

    Parameters
    ----------
    montage : str | DigMontage | Info
        A standard montage name (see
        :func:`mne.channels.make_standard_montage`), a montage in the
        fsaverage head frame, or the measurement info of a recording: its
        MEG sensors (with its device-to-head transform) and EEG electrodes,
        the subject's head frame taken as fsaverage's (no MRI, no
        coregistration: sensors keep the subject's distances from a template
        brain). Electrodes are projected onto the scalp.
    spacing : float
        Grid spacing of the volume source space in metres (the paper: 7 mm).
        Not used with ``source_space="surface"``.
    source_space : "volume" | "surface"
        ``"volume"``: a regular grid filling the inner skull (what the
        models are trained on). ``"surface"``: the cortex, every vertex of
        the fsaverage5 white surfaces (:func:`fsaverage5_source_space`;
        about 20,000 sources); :func:`mne_piunet.apply_piunet` then returns
        a :class:`mne.SourceEstimate` on fsaverage vertex numbers and
        supports ``pick_ori="normal"``.
    conductivity : tuple of float
        Brain, skull and scalp conductivities in S/m.
    mindist : float
        Least distance of sources from the inner skull, in mm.
    skull_thickness : float
        Thickness of the approximated skull in metres (see the module
        docstring; not used with the real fsaverage BEM). The source space
        depends on the inner skull only, so it does not change with this.
    cache : bool
        Read and write the result under ``MNE_DATA/MNE-piunet/template``,
        keyed by all parameters, so later calls take well under a second.
        The approximated BEM (the slow part, about 2 minutes) is cached
        there in any case, keyed by the conductivities.
    %(verbose)s

    Returns
    -------
    forward : instance of Forward
        Free-orientation forward of the montage's or info's MEG and EEG
        channels on a volume or surface source space (subject
        ``"fsaverage"``).

    Notes
    -----
    See the module docstring for how the BEM is made when the real fsaverage
    BEM is not on disk.
    """
    check_option("source_space", source_space, ("volume", "surface"))
    info = _montage_info(montage)
    real_bem = _real_bem_for(conductivity, skull_thickness)
    fname = None
    if cache:
        fname = _forward_cache_fname(
            info, source_space, spacing, conductivity, mindist, skull_thickness
        )
        fwd = read_cached(fname, mne.read_forward_solution)
        if fwd is not None:
            logger.info(f"Template forward read from cache {fname}")
            return fwd
    logger.info("Making the template forward solution...")
    bem = _template_bem(conductivity, skull_thickness, real_bem)
    trans = mne.read_trans(_mne_fsaverage_dir() / "fsaverage-trans.fif")
    if source_space == "surface":
        src, fwd_mindist = fsaverage5_source_space(), mindist
    else:
        src, fwd_mindist = _volume_source_space(bem, spacing, mindist, real_bem), 0.0
    types = channel_types(info)
    fwd = mne.make_forward_solution(
        info,
        trans,
        src,
        bem,
        meg="grad" in types or "mag" in types,
        eeg="eeg" in types,
        mindist=fwd_mindist,
        verbose=False,
    )
    logger.info(f"    {fwd['nsource']} sources, {fwd['nchan']} channels")
    if fname is not None:
        fwd = write_cached(
            fname, fwd, mne.write_forward_solution, mne.read_forward_solution
        )
    return fwd


def template_forward_cached(
    montage: str = "easycap-M10",
    spacing: float = 0.007,
    *,
    source_space: str = "volume",
    conductivity: tuple = CONDUCTIVITY,
    mindist: float = 5.0,
) -> bool:
    """Whether :func:`make_template_forward` would read these settings' cache."""
    info = _montage_info(montage)
    fname = _forward_cache_fname(info, source_space, spacing, conductivity, mindist)
    return fname.is_file()


def _volume_source_space(bem, spacing, mindist, real_bem):
    if real_bem is not None:  # with the real MRI: a true volume source space
        src = mne.setup_volume_source_space(
            "fsaverage",
            pos=spacing * 1e3,
            bem=bem,
            mindist=mindist,
            subjects_dir=real_bem.parents[2],
            verbose=False,
        )
    else:  # without an MRI, MNE calls the grid a "discrete" source space
        src = mne.setup_volume_source_space(
            None, pos=spacing * 1e3, bem=bem, mindist=mindist, verbose=False
        )
        src[0]["subject_his_id"] = "fsaverage"
    return src
