"""ERP-like evoked responses and cortical patches on a forward model.

:mod:`mne_piunet.simulation` makes these public; they live here to keep each
module short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    import mne

from dataclasses import dataclass

import numpy as np

from ._grid import forward_source_positions
from ._mne_private import source_space_subject
from ._sensors import (
    DATA_TYPES,
    add_average_reference_projector,
    eeg_mask,
    reference_eeg,
)


@dataclass(frozen=True)
class EvokedSimulationConfig:
    """Sources and time courses of a simulated evoked response.

    Parameters
    ----------
    patch_area : tuple of float
        Range of the cortical patch areas in m² (surface source spaces),
        drawn uniformly per source; default 1 to 10 cm².
    extent : tuple of float
        Range of the Gaussian blob standard deviations in metres (volume and
        discrete source spaces, as the paper).
    latency : tuple of float
        Range of each source's peak latency in seconds.
    duration : tuple of float
        Range of each waveform's Gaussian envelope standard deviation (s).
    frequency : tuple of float
        Range of each waveform's oscillation frequency in Hz; the waveform is
        ``exp(-(t - latency)² / (2 duration²)) cos(2 pi frequency (t - latency))``
        scaled by a Gaussian random amplitude: ERP-like, mostly one or two
        deflections.
    amplitude : float
        Standard deviation of that amplitude in A·m, per source point (a
        patch's points each carry it; a blob's profile peaks at it).
    """

    patch_area: tuple[float, float] = (1e-4, 10e-4)
    extent: tuple[float, float] = (0.005, 0.040)
    latency: tuple[float, float] = (0.08, 0.3)
    duration: tuple[float, float] = (0.015, 0.04)
    frequency: tuple[float, float] = (1.0, 6.0)
    amplitude: float = 10e-9


def simulate_evoked(
    forward: mne.Forward,
    info: mne.Info,
    n_sources: int = 1,
    *,
    config: EvokedSimulationConfig | None = None,
    snr_db: float | None = 10.0,
    tmin: float = -0.1,
    tmax: float = 0.5,
    seed: int | np.random.Generator | None = None,
) -> tuple:
    """Simulate an evoked response and its true sources, as mne.simulation does.

    Surface source spaces get cortical patches grown over the mesh to a drawn
    area, oriented along the surface normal; volume and discrete source spaces
    get the paper's Gaussian blobs with a random orientation. Each source has
    an ERP-like time course (see :class:`EvokedSimulationConfig`).

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation M/EEG forward solution.
    info : instance of Info
        Channel information of the forward's MEG and/or EEG channels, with
        sampling frequency (e.g. the recording's, or
        :func:`mne_piunet.template.make_template_info`); with EEG, an
        average-reference projector is added when missing.
    n_sources : int
        Number of patches or blobs.
    config : EvokedSimulationConfig | None
        Distributions; ``None`` uses the defaults.
    snr_db : float | None
        Ratio of signal to noise power over sensors and time, in dB, of the
        added white noise (each channel type at the relative level of
        :func:`mne.make_ad_hoc_cov`); ``None`` adds no noise.
    tmin, tmax : float
        Time span in seconds.
    seed : None | int | numpy.random.Generator
        Randomness: the same seed gives the same data.

    Returns
    -------
    stc : SourceEstimate | VolVectorSourceEstimate
        The true sources: normal components on surfaces (what
        ``apply_piunet(..., pick_ori="normal")`` estimates), dipole moment
        vectors in volumes.
    evoked : instance of Evoked
        Sensor data (EEG average-referenced) with noise.
    """
    from mne import (
        EvokedArray,
        convert_forward_solution,
        make_ad_hoc_cov,
        pick_channels_forward,
        pick_info,
        pick_types,
    )
    from mne.io.constants import FIFF

    config = EvokedSimulationConfig() if config is None else config
    rng = np.random.default_rng(seed)
    if not info.get("sfreq"):
        raise ValueError(
            "info has no sampling frequency (a forward's own info has none); pass "
            "the recording's info or mne_piunet.template.make_template_info()"
        )
    info = pick_info(info, pick_types(info, **DATA_TYPES, exclude=()))
    forward = pick_channels_forward(
        forward, info["ch_names"], ordered=True, verbose=False
    )
    if forward["source_ori"] != FIFF.FIFFV_MNE_FREE_ORI:
        raise ValueError("The forward must have free source orientations")
    if forward["surf_ori"]:  # gain columns back to x/y/z, matching the moments
        forward = convert_forward_solution(
            forward, surf_ori=False, force_fixed=False, verbose=False
        )
    times = np.arange(
        int(round(tmin * info["sfreq"])), int(round(tmax * info["sfreq"])) + 1
    )
    times = times / info["sfreq"]
    waves = _erp_waveforms(times, n_sources, config, rng)  # (n_sources, n_times)
    if forward["src"].kind == "surface":
        maps = _patch_maps(forward, n_sources, config, rng)  # (n_sources, n_src)
        normals = np.concatenate([s["nn"][s["vertno"]] for s in forward["src"]])
        amplitude = maps.T @ waves  # (n_src, n_times) along the normals
        moments = normals[:, :, None] * amplitude[:, None, :]
    else:
        maps, orient = _blob_maps(forward, n_sources, config, rng)
        moments = np.einsum("kn,kc,kt->nct", maps, orient, waves)
    eeg = eeg_mask(info)
    if eeg.any():
        info = add_average_reference_projector(info)
    data = reference_eeg(forward["sol"]["data"] @ moments.reshape(-1, len(times)), eeg)
    if snr_db is not None:  # powers in units of each channel type's noise level
        sigma = np.sqrt(make_ad_hoc_cov(info, verbose=False).data)[:, None]
        noise = reference_eeg(rng.standard_normal(data.shape) * sigma, eeg)
        power = ((data / sigma) ** 2).mean() / ((noise / sigma) ** 2).mean()
        data = data + np.sqrt(power / 10 ** (snr_db / 10)) * noise
    evoked = EvokedArray(data, info, tmin=times[0], nave=1)
    return _true_stc(
        forward, moments, times, surface=forward["src"].kind == "surface"
    ), evoked


def _erp_waveforms(times, n_sources, config, rng):
    draw = lambda lohi: rng.uniform(*lohi, size=(n_sources, 1))  # noqa: E731
    lat, dur, freq = draw(config.latency), draw(config.duration), draw(config.frequency)
    amp = config.amplitude * rng.standard_normal((n_sources, 1))
    shifted = times[None, :] - lat
    return (
        amp * np.exp(-(shifted**2) / (2 * dur**2)) * np.cos(2 * np.pi * freq * shifted)
    )


def _blob_maps(forward, n_sources, config, rng):
    """Gaussian spatial profiles around random points, random unit orientations."""
    pos = forward_source_positions(forward)
    centers = rng.choice(len(pos), n_sources, replace=False)
    sigma = rng.uniform(*config.extent, size=(n_sources, 1))
    dist2 = ((pos[None] - pos[centers][:, None]) ** 2).sum(-1)
    orient = rng.standard_normal((n_sources, 3))
    orient /= np.linalg.norm(orient, axis=1, keepdims=True)
    return np.exp(-dist2 / (2 * sigma**2)), orient


def _patch_maps(forward, n_sources, config, rng):
    """Return indicator maps of patches grown over the cortical mesh."""
    src = forward["src"]
    offsets = np.cumsum([0] + [s["nuse"] for s in src])
    maps = np.zeros((n_sources, offsets[-1]))
    for k in range(n_sources):
        patch, _ = draw_patch(src, offsets, config, rng)
        maps[k, patch] = 1.0
    return maps


def draw_patch(src, offsets, config, rng):
    """Grow a patch of random seed and area; its points numbered across hemis."""
    hemi = rng.integers(len(src))
    seed_vertex = rng.integers(src[hemi]["nuse"])
    area = rng.uniform(*config.patch_area)
    return offsets[hemi] + grow_patch(src[hemi], seed_vertex, area), area


def grow_patch(hemi_src: dict, seed: int, area: float) -> np.ndarray:
    """Grow a patch over a surface source space until it covers ``area``.

    Vertices join in order of their shortest-path distance along the mesh
    edges from the seed; each carries a third of the area of its triangles.

    Parameters
    ----------
    hemi_src : dict
        One surface source space (an element of :class:`mne.SourceSpaces`).
    seed : int
        Index of the seed among the source space's used vertices.
    area : float
        Target area in m².

    Returns
    -------
    patch : ndarray of int
        Indices (into ``vertno``) of the patch, seed first.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    mesh = hemi_src.get("use_tris")
    if mesh is None:  # every vertex used, but those the forward dropped
        mesh = hemi_src.get("tris")
    if mesh is None or not len(mesh):
        raise ValueError("The surface source space has no triangulation to grow on")
    vertno = hemi_src["vertno"]
    index = np.full(hemi_src["np"], -1)
    index[vertno] = np.arange(len(vertno))
    tris = index[mesh]
    tris = tris[(tris >= 0).all(axis=1)]  # vertices the forward dropped: no edges
    rr = hemi_src["rr"][vertno]
    edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    lengths = np.linalg.norm(rr[edges[:, 0]] - rr[edges[:, 1]], axis=1)
    graph = coo_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(len(rr),) * 2)
    dist = dijkstra(graph.tocsr(), directed=False, indices=seed)
    cross = np.cross(rr[tris[:, 1]] - rr[tris[:, 0]], rr[tris[:, 2]] - rr[tris[:, 0]])
    vertex_area = np.bincount(
        tris.ravel(), np.repeat(np.linalg.norm(cross, axis=1) / 6, 3), len(rr)
    )
    order = np.argsort(dist)
    order = order[np.isfinite(dist[order])]
    n_in = np.searchsorted(np.cumsum(vertex_area[order]), area) + 1
    return order[:n_in]


def _true_stc(forward, moments, times, *, surface):
    from mne import SourceEstimate, VolVectorSourceEstimate

    vertices = [s["vertno"] for s in forward["src"]]
    tstep = times[1] - times[0] if len(times) > 1 else 1.0
    if surface:
        normals = np.concatenate([s["nn"][s["vertno"]] for s in forward["src"]])
        data = np.einsum("nct,nc->nt", moments, normals)
        return SourceEstimate(
            data, vertices, times[0], tstep, source_space_subject(forward["src"])
        )
    return VolVectorSourceEstimate(
        moments, vertices, times[0], tstep, source_space_subject(forward["src"])
    )
