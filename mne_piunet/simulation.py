"""Source simulators: the paper's Gaussian blobs (batched, torch) and sensor noise.

The paper's generator (Morik et al. 2025): 1 to 20 sources per sample, each a
Gaussian spatial profile (standard deviation 5 to 40 mm) around a random
source point, with a random unit orientation and a Gaussian random amplitude;
the sensor signal gets white noise scaled so that the sample has the drawn SNR.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    import mne

from dataclasses import dataclass

import numpy as np
import torch

from ._evoked_sim import (
    EvokedSimulationConfig,
    draw_patch,
    grow_patch,
    simulate_evoked,
)
from ._grid import forward_source_positions
from ._mne_private import validate_type
from ._sensors import (
    average_reference,
    eeg_mask,
    forward_data_info,
    noise_levels,
    reference_eeg,
)

__all__ = [
    "EvokedSimulationConfig",
    "NoiseConfig",
    "SimulatedBatch",
    "SimulationConfig",
    "SourceSimulator",
    "background_noise_covariance",
    "grow_patch",
    "simulate_evoked",
    "simulate_patches",
    "simulate_sources",
    "torch_generator",
]


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
        Free-orientation M/EEG forward solution (fixes source points and
        leadfield; EEG rows average-referenced, MEG rows as they are).
    config : SimulationConfig | None
        The distribution; ``None`` uses the paper's.
    device : str | torch.device
        Where the samples are made.
    """

    def __init__(
        self,
        forward: mne.Forward,
        config: SimulationConfig | None = None,
        *,
        device: str | torch.device = "cpu",
    ):
        config = SimulationConfig() if config is None else config
        validate_type(config, SimulationConfig, "config")
        self.config = config
        self.device = torch.device(device)
        info = forward_data_info(forward)
        eeg = eeg_mask(info)
        gain = reference_eeg(forward["sol"]["data"], eeg)
        # astype: native byte order (a forward read from FIF is big-endian)
        self.leadfield = torch.as_tensor(gain.astype(np.float32), device=self.device)
        self.eeg = torch.as_tensor(eeg, device=self.device)
        # each channel's sensor noise level: the unit of white noise and SNR
        self.levels = torch.as_tensor(
            noise_levels(info), dtype=torch.float32, device=self.device
        )
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

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        *,
        noise_colour: torch.Tensor | None = None,
        config: SimulationConfig | None = None,
        leadfield: torch.Tensor | None = None,
    ) -> SimulatedBatch:
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
            ``None``: white sensor noise (each channel at its type's level
            of :func:`mne.make_ad_hoc_cov`; the SNR is measured in those
            units).
        config : SimulationConfig | None
            The distribution of this batch; ``None`` uses the simulator's.
        leadfield : torch.Tensor | None
            The gain (n_channels x 3 n_sources, EEG rows average-referenced)
            to project the sources through, for example the same sensors at
            another head position; ``None``: the forward's.

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
        leadfield = self.leadfield if leadfield is None else leadfield
        signal = sources.reshape(batch_size, -1) @ leadfield.T
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
        noise = noise * self.levels if colour is None else noise @ colour.T
        noise = reference_eeg(noise, self.eeg, axis=1)
        p_signal = (signal / self.levels).pow(2).mean(dim=1, keepdim=True)
        p_noise = (noise / self.levels).pow(2).mean(dim=1, keepdim=True)
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


def background_noise_covariance(
    forward: mne.Forward,
    n_background: int,
    sensor_noise_db: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Covariance of random background dipoles plus white sensor noise.

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation M/EEG forward solution.
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
        The noise covariance (EEG average-referenced), in units of each
        channel's sensor noise level relative to their mean (so that EEG
        alone has unit mean variance).
    """
    info = forward_data_info(forward)
    eeg = eeg_mask(info)
    levels = noise_levels(info)
    levels = levels / np.sqrt(np.mean(levels**2))
    gain = reference_eeg(forward["sol"]["data"], eeg) / levels[:, None]
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
    cov = cov + white * reference_eeg(np.eye(len(cov)), eeg)
    cov = reference_eeg(reference_eeg(cov, eeg), eeg, axis=1)
    cov = cov / np.trace(cov) * len(cov)
    return levels[:, None] * cov * levels[None, :]


def torch_generator(
    seed: int | None, device: str | torch.device = "cpu"
) -> torch.Generator:
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


def simulate_sources(
    forward: mne.Forward,
    n_samples: int,
    config: SimulationConfig | None = None,
    *,
    seed: int | None = None,
    batch_size: int = 256,
) -> SimulatedBatch:
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


def simulate_blobs(
    forward: mne.Forward,
    n_samples: int,
    n_sources: int,
    *,
    snr_db: float,
    extent: tuple[float, float],
    seed: int | np.random.Generator | None = None,
) -> SimulatedBatch:
    """Simulate a test cell: ``n_sources`` Gaussian blobs at one SNR.

    The benchmark's samples (and the uncertainty calibration's): the paper's
    blobs, their number and SNR fixed.

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation EEG forward solution.
    n_samples : int
        Number of samples.
    n_sources : int
        Blobs per sample.
    snr_db : float
        SNR of every sample, in dB.
    extent : tuple of float
        Range of the blobs' standard deviations (metres).
    seed : None | int | numpy.random.Generator
        Randomness (a Generator is advanced, as by :func:`simulate_patches`).

    Returns
    -------
    batch : SimulatedBatch
        The samples (CPU tensors).
    """
    config = SimulationConfig(
        n_sources=(n_sources, n_sources), extent=extent, snr_db=(snr_db, snr_db)
    )
    return SourceSimulator(forward, config).sample(n_samples, torch_generator(seed))


def simulate_patches(
    forward: mne.Forward,
    n_samples: int,
    n_sources: int,
    *,
    snr_db: float,
    patch_area: tuple[float, float] = (1e-4, 10e-4),
    seed: int | np.random.Generator | None = None,
) -> SimulatedBatch:
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
            patch, area = draw_patch(forward["src"], offsets, config, rng)
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
