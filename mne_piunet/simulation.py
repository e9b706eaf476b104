"""Source simulators: the paper's Gaussian blobs (batched, torch) and sensor noise.

The paper's generator (Morik et al. 2025): 1 to 20 sources per sample, each a
Gaussian spatial profile (standard deviation 5 to 40 mm) around a random
source point, with a random unit orientation and a Gaussian random amplitude;
the sensor signal gets white noise scaled so that the sample has the drawn SNR.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ._eeg import add_average_reference_projector, average_reference
from ._grid import forward_source_positions
from ._mne_private import source_space_subject, validate_type


@dataclass(frozen=True)
class SimulationConfig:
    """Distribution of the simulated samples (defaults: the paper's).

    Parameters
    ----------
    n_sources : tuple of int
        Least and most number of sources (blobs) per sample, drawn uniformly.
    single_source_prob : float
        Extra probability of a sample with exactly one source (oversampling
        of single sources); 0 draws the number uniformly.
    extent : tuple of float
        Range of the blobs' spatial standard deviation in metres.
    snr_db : tuple of float
        Range of the sensor SNR in dB, drawn uniformly per sample. SNR is the
        ratio of signal to noise power over the (average-referenced) sensors.
    noise_only_prob : float
        Probability of a sample without sources: its sensors hold only the
        noise (at the level the drawn sources and SNR would have set), its
        true source field is zero (a baseline).
    """

    n_sources: tuple[int, int] = (1, 20)
    single_source_prob: float = 0.0
    extent: tuple[float, float] = (0.005, 0.040)
    snr_db: tuple[float, float] = (0.0, 30.0)
    noise_only_prob: float = 0.0

    def __post_init__(self):
        lo, hi = self.n_sources
        if not 1 <= lo <= hi:
            raise ValueError(
                f"n_sources must satisfy 1 <= min <= max, got {self.n_sources}"
            )
        if not 0 <= self.single_source_prob <= 1:
            raise ValueError(
                f"single_source_prob must be in [0, 1], got {self.single_source_prob}"
            )
        if not 0 < self.extent[0] <= self.extent[1]:
            raise ValueError(f"extent must be positive and ordered, got {self.extent}")
        if self.snr_db[0] > self.snr_db[1]:
            raise ValueError(f"snr_db must be ordered, got {self.snr_db}")
        if not 0 <= self.noise_only_prob < 1:
            raise ValueError(
                f"noise_only_prob must be in [0, 1), got {self.noise_only_prob}"
            )


@dataclass
class SimulatedBatch:
    """A batch of simulated samples (torch tensors on the simulator's device).

    Attributes
    ----------
    sources : Tensor, shape (batch, n_sources, 3)
        True dipole moments per source point.
    sensors : Tensor, shape (batch, n_channels)
        Average-referenced sensor data with noise.
    snr_db : Tensor, shape (batch,)
        The SNR each sample was made with.
    n_active : Tensor, shape (batch,)
        Number of blobs per sample.
    centers : Tensor, shape (batch, max_sources)
        Index of each blob's centre point (-1 for unused slots).
    extents : Tensor, shape (batch, max_sources)
        Standard deviation of each blob in metres (0 for unused slots).
    """

    sources: torch.Tensor
    sensors: torch.Tensor
    snr_db: torch.Tensor
    n_active: torch.Tensor
    centers: torch.Tensor
    extents: torch.Tensor


class SourceSimulator:
    """Batched generator of (sources, sensors) pairs, on CPU or GPU.

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation EEG forward solution (fixes source points and
        leadfield).
    config : SimulationConfig | None
        The distribution; ``None`` uses the paper's.
    device : str | torch.device
        Where the samples are made.
    """

    def __init__(self, forward, config=None, *, device="cpu"):
        config = SimulationConfig() if config is None else config
        validate_type(config, SimulationConfig, "config")
        self.config = config
        self.device = torch.device(device)
        gain = forward["sol"]["data"]
        gain = average_reference(gain)
        self.leadfield = torch.as_tensor(gain, dtype=torch.float32, device=self.device)
        self.positions = torch.as_tensor(
            forward_source_positions(forward), dtype=torch.float32, device=self.device
        )
        self.n_points = len(self.positions)
        # Squared distances between all points, once: a row gather per blob is
        # much cheaper than cdist per batch (5334 points: 114 MB in float32).
        self.dist2 = torch.cdist(self.positions, self.positions).pow_(2)

    def _uniform(self, shape, lo, hi, generator):
        u = torch.rand(shape, generator=generator, device=self.device)
        return lo + (hi - lo) * u

    def sample(self, batch_size, generator=None, *, noise_colour=None, config=None):
        """Draw a batch of samples.

        Parameters
        ----------
        batch_size : int
            Number of samples.
        generator : torch.Generator | None
            Source of randomness (on the simulator's device).
        noise_colour : torch.Tensor | None
            A square root ``S`` (n_channels x n_channels) of the noise
            covariance, ``S @ S.T``: the noise is ``S`` times white noise.
            ``None``: white sensor noise.
        config : SimulationConfig | None
            The distribution of this batch; ``None`` uses the simulator's.

        Returns
        -------
        batch : SimulatedBatch
            The samples.
        """
        cfg = self.config if config is None else config
        dev = self.device
        lo, hi = cfg.n_sources
        n_active = torch.randint(
            lo, hi + 1, (batch_size,), generator=generator, device=dev
        )
        single = torch.rand(batch_size, generator=generator, device=dev)
        n_active = torch.where(single < cfg.single_source_prob, 1, n_active)
        if lo > 1:
            n_active = n_active.clamp(min=lo)
        slots = torch.arange(hi, device=dev)
        active = slots[None] < n_active[:, None]  # (batch, max_sources)
        centers = torch.randint(
            0, self.n_points, (batch_size, hi), generator=generator, device=dev
        )
        extents = self._uniform((batch_size, hi), *cfg.extent, generator)
        amps = torch.randn((batch_size, hi), generator=generator, device=dev)
        oris = torch.randn((batch_size, hi, 3), generator=generator, device=dev)
        oris = oris / oris.norm(dim=-1, keepdim=True)
        # Gaussian profile of each active blob over all points (inactive slots
        # stay zero), then per sample: sources = profiles^T @ (amplitude x orientation)
        b_idx, k_idx = active.nonzero(as_tuple=True)
        rate = -0.5 / extents[b_idx, k_idx, None] ** 2
        profiles = torch.zeros((batch_size, hi, self.n_points), device=dev)
        profiles[b_idx, k_idx] = torch.exp(self.dist2[centers[b_idx, k_idx]] * rate)
        moments = amps[:, :, None] * oris * active[:, :, None]
        # (batch, 3, points) is the fast GEMM shape; then points-major, contiguous
        sources = torch.bmm(moments.transpose(1, 2), profiles)
        sources = sources.transpose(1, 2).contiguous()
        signal = sources.reshape(batch_size, -1) @ self.leadfield.T
        snr_db = self._uniform((batch_size,), *cfg.snr_db, generator)
        noise = self._noise(signal, snr_db, generator, noise_colour)
        silent = torch.rand(batch_size, generator=generator, device=dev)
        silent = silent < cfg.noise_only_prob
        if silent.any():  # baselines: noise alone, no source
            sources = torch.where(silent[:, None, None], 0.0, sources)
            signal = torch.where(silent[:, None], 0.0, signal)
            n_active = torch.where(silent, 0, n_active)
            active = active & ~silent[:, None]
        sensors = signal + noise
        return SimulatedBatch(
            sources=sources,
            sensors=sensors,
            snr_db=snr_db,
            n_active=n_active,
            centers=torch.where(active, centers, -1),
            extents=extents * active,
        )

    def _noise(self, signal, snr_db, generator, colour=None):
        noise = torch.randn(signal.shape, generator=generator, device=self.device)
        if colour is not None:
            noise = noise @ colour.T
        noise = average_reference(noise, axis=1)
        p_signal = signal.pow(2).mean(dim=1, keepdim=True)
        p_noise = noise.pow(2).mean(dim=1, keepdim=True)
        gain = torch.sqrt(p_signal / p_noise / 10 ** (snr_db[:, None] / 10))
        return noise * gain


@dataclass(frozen=True)
class NoiseConfig:
    """Coloured sensor noise for training: background brain activity + sensor noise.

    Real recordings carry noise whose covariance the user estimates (e.g.
    from baselines) and passes to the init, which then whitens with it.
    Training draws from a pool of such covariances, each the covariance of
    many random background dipoles seen through the forward model plus
    white sensor noise, and computes the init with each one's own
    covariance, so that the network sees the init patterns that coloured,
    whitened noise produces.

    Parameters
    ----------
    n_covariances : int
        Size of the pool (one init kernel each, computed once).
    n_background : tuple of int
        Range of the number of random background dipoles per covariance.
    sensor_noise_db : tuple of float
        Range of the white sensor noise power relative to the background's,
        in dB, per covariance.
    white_prob : float
        Probability of a batch with white sensor noise and the init for the
        training's own noise covariance (ad-hoc by default) instead.
    """

    n_covariances: int = 32
    n_background: tuple[int, int] = (50, 2000)
    sensor_noise_db: tuple[float, float] = (-10.0, 10.0)
    white_prob: float = 0.25

    def __post_init__(self):
        if self.n_covariances < 1:
            raise ValueError(
                f"n_covariances must be at least 1, got {self.n_covariances}"
            )
        if not 1 <= self.n_background[0] <= self.n_background[1]:
            raise ValueError(
                f"n_background must satisfy 1 <= min <= max, got {self.n_background}"
            )
        if not 0 <= self.white_prob <= 1:
            raise ValueError(f"white_prob must be in [0, 1], got {self.white_prob}")


def background_noise_covariance(forward, n_background, sensor_noise_db, rng):
    """Covariance of random background dipoles plus white sensor noise.

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation EEG forward solution.
    n_background : int
        Number of background dipoles, at random source points with random
        orientations and log-normally distributed powers.
    sensor_noise_db : float
        White sensor noise power relative to the background's, in dB.
    rng : numpy.random.Generator
        Randomness.

    Returns
    -------
    cov : ndarray, shape (n_channels, n_channels)
        The average-referenced noise covariance, scaled to unit mean variance.
    """
    gain = average_reference(forward["sol"]["data"])
    n_points = gain.shape[1] // 3
    points = rng.integers(0, n_points, n_background)
    oris = rng.standard_normal((n_background, 3))
    oris /= np.linalg.norm(oris, axis=1, keepdims=True)
    # each dipole's topography, weighted by its amplitude
    topo = np.einsum(
        "cpk,pk->cp", gain.reshape(len(gain), n_points, 3)[:, points], oris
    )
    topo *= np.exp(rng.normal(0.0, 0.5, n_background))
    cov = topo @ topo.T
    white = np.trace(cov) / len(cov) * 10 ** (sensor_noise_db / 10)
    cov = cov + white * average_reference(np.eye(len(cov)))
    cov = average_reference(average_reference(cov), axis=1)
    return cov / np.trace(cov) * len(cov)


def torch_generator(seed, device="cpu"):
    """Make a seeded :class:`torch.Generator` from an int, a numpy Generator or None.

    Parameters
    ----------
    seed : None | int | numpy.random.Generator
        The seed.
    device : str | torch.device
        The generator's device.

    Returns
    -------
    generator : torch.Generator
        The generator.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(0, 2**62)))
    return gen


def simulate_sources(forward, n_samples, config=None, *, seed=None, batch_size=256):
    """Simulate source fields and sensor data in the paper's protocol (numpy).

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation EEG forward solution.
    n_samples : int
        Number of samples.
    config : SimulationConfig | None
        The distribution; ``None`` uses the paper's.
    seed : None | int | numpy.random.Generator
        Randomness: the same seed gives the same data.
    batch_size : int
        Samples made at once (memory only: the result does not depend on it
        for a given seed only when it is unchanged).

    Returns
    -------
    sources : ndarray, shape (n_samples, n_sources, 3)
        True dipole moments.
    sensors : ndarray, shape (n_samples, n_channels)
        Average-referenced sensor data with noise.
    snr_db : ndarray, shape (n_samples,)
        SNR of each sample.
    """
    sim = SourceSimulator(forward, config)
    gen = torch_generator(seed)
    parts = [
        sim.sample(min(batch_size, n_samples - k), gen)
        for k in range(0, n_samples, batch_size)
    ]
    cat = lambda name: torch.cat([getattr(p, name) for p in parts]).numpy()  # noqa
    return cat("sources"), cat("sensors"), cat("snr_db")


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
    forward,
    info,
    n_sources=1,
    *,
    config=None,
    snr_db=10.0,
    tmin=-0.1,
    tmax=0.5,
    seed=None,
):
    """Simulate an evoked response and its true sources, as mne.simulation does.

    Surface source spaces get cortical patches grown over the mesh to a drawn
    area, oriented along the surface normal; volume and discrete source spaces
    get the paper's Gaussian blobs with a random orientation. Each source has
    an ERP-like time course (see :class:`EvokedSimulationConfig`).

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation EEG forward solution.
    info : instance of Info
        Channel information of the forward's EEG channels, with sampling
        frequency (e.g. from :func:`mne_piunet.template.make_template_info`);
        an average-reference projector is added when missing.
    n_sources : int
        Number of patches or blobs.
    config : EvokedSimulationConfig | None
        Distributions; ``None`` uses the defaults.
    snr_db : float | None
        Ratio of signal to noise power over sensors and time, in dB, of the
        added white noise; ``None`` adds no noise.
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
        Average-referenced sensor data with noise.
    """
    from mne import (
        EvokedArray,
        convert_forward_solution,
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
    info = pick_info(info, pick_types(info, eeg=True, exclude=()))
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
    info = add_average_reference_projector(info)
    data = average_reference(forward["sol"]["data"] @ moments.reshape(-1, len(times)))
    if snr_db is not None:
        noise = average_reference(rng.standard_normal(data.shape))
        scale = np.sqrt((data**2).mean() / (noise**2).mean() / 10 ** (snr_db / 10))
        data = data + scale * noise
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
        patch, _ = _draw_patch(src, offsets, config, rng)
        maps[k, patch] = 1.0
    return maps


def _draw_patch(src, offsets, config, rng):
    """Grow a patch of random seed and area; its points numbered across hemis."""
    hemi = rng.integers(len(src))
    seed_vertex = rng.integers(src[hemi]["nuse"])
    area = rng.uniform(*config.patch_area)
    return offsets[hemi] + grow_patch(src[hemi], seed_vertex, area), area


def simulate_patches(
    forward, n_samples, n_sources, *, snr_db, patch_area=(1e-4, 10e-4), seed=None
):
    """Simulate single time points of cortical patches (surface source spaces).

    Each source is a patch grown over the cortical mesh
    (:func:`grow_patch`) to an area drawn uniformly from ``patch_area``,
    every point of it a dipole along the surface normal with the patch's
    Gaussian random amplitude; white sensor noise is added as in
    :class:`SourceSimulator` (per sample, at ``snr_db``).

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation EEG forward on a surface source space, gain in x/y/z
        (``surf_ori=False``, as :func:`mne.make_forward_solution` makes it).
    n_samples : int
        Number of samples.
    n_sources : int
        Patches per sample.
    snr_db : float
        Signal-to-noise ratio of every sample in dB.
    patch_area : tuple of float
        Range of the patch areas in m².
    seed : None | int | numpy.random.Generator
        Randomness: the same seed gives the same data.

    Returns
    -------
    batch : SimulatedBatch
        The samples (CPU tensors); ``centers`` are the patches' seed points,
        ``extents`` their equivalent radii ``sqrt(area / pi)`` in metres.
    """
    from mne.io.constants import FIFF

    if forward["src"].kind != "surface" or forward["surf_ori"]:
        raise ValueError(
            "simulate_patches needs a forward on a surface source space with "
            f"x/y/z gain columns, got a {forward['src'].kind} source space "
            f"(surf_ori={forward['surf_ori']})"
        )
    if forward["source_ori"] != FIFF.FIFFV_MNE_FREE_ORI:
        raise ValueError("The forward must have free source orientations")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    config = EvokedSimulationConfig(patch_area=patch_area)
    normals = np.concatenate([s["nn"][s["vertno"]] for s in forward["src"]])
    offsets = np.cumsum([0] + [s["nuse"] for s in forward["src"]])
    sources = np.zeros((n_samples, len(normals), 3))
    centers = np.zeros((n_samples, n_sources), int)
    extents = np.zeros((n_samples, n_sources))
    for i in range(n_samples):
        for k in range(n_sources):
            patch, area = _draw_patch(forward["src"], offsets, config, rng)
            sources[i, patch] += rng.standard_normal() * normals[patch]
            centers[i, k], extents[i, k] = patch[0], np.sqrt(area / np.pi)
    gain = average_reference(forward["sol"]["data"])
    signal = sources.reshape(n_samples, -1) @ gain.T
    noise = average_reference(rng.standard_normal(signal.shape), axis=1)
    scale = np.sqrt(
        (signal**2).mean(1, keepdims=True)
        / (noise**2).mean(1, keepdims=True)
        / 10 ** (snr_db / 10)
    )
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return SimulatedBatch(
        sources=as_tensor(sources),
        sensors=as_tensor(signal + scale * noise),
        snr_db=torch.full((n_samples,), float(snr_db)),
        n_active=torch.full((n_samples,), n_sources),
        centers=torch.as_tensor(centers),
        extents=as_tensor(extents),
    )


def grow_patch(hemi_src, seed, area):
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
