"""Source simulators: the paper's Gaussian blobs (batched, torch) and sensor noise.

The paper's generator (Morik et al. 2025): 1 to 20 sources per sample, each a
Gaussian spatial profile (standard deviation 5 to 40 mm) around a random
source point, with a random unit orientation and a Gaussian random amplitude;
the sensor signal gets white noise scaled so that the sample has the drawn SNR.
"""

from dataclasses import dataclass

import numpy as np
import torch
from mne.utils import _validate_type

from ._grid import forward_source_positions


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
    """

    n_sources: tuple[int, int] = (1, 20)
    single_source_prob: float = 0.0
    extent: tuple[float, float] = (0.005, 0.040)
    snr_db: tuple[float, float] = (0.0, 30.0)

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
        _validate_type(config, SimulationConfig, "config")
        self.config = config
        self.device = torch.device(device)
        gain = forward["sol"]["data"]
        gain = gain - gain.mean(axis=0)  # average reference
        self.leadfield = torch.as_tensor(gain, dtype=torch.float32, device=self.device)
        self.positions = torch.as_tensor(
            forward_source_positions(forward), dtype=torch.float32, device=self.device
        )
        self.n_points = len(self.positions)

    def _uniform(self, shape, lo, hi, generator):
        u = torch.rand(shape, generator=generator, device=self.device)
        return lo + (hi - lo) * u

    def sample(self, batch_size, generator=None):
        """Draw a batch of samples.

        Parameters
        ----------
        batch_size : int
            Number of samples.
        generator : torch.Generator | None
            Source of randomness (on the simulator's device).

        Returns
        -------
        batch : SimulatedBatch
            The samples.
        """
        cfg, dev = self.config, self.device
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
        # Gaussian profile of each active blob over all points, summed per sample
        b_idx, k_idx = active.nonzero(as_tuple=True)
        dist2 = torch.cdist(self.positions[centers[b_idx, k_idx]], self.positions) ** 2
        profile = torch.exp(-dist2 / (2 * extents[b_idx, k_idx, None] ** 2))
        profile *= amps[b_idx, k_idx, None]
        contrib = profile[:, :, None] * oris[b_idx, k_idx, None, :]
        sources = torch.zeros((batch_size, self.n_points, 3), device=dev)
        sources.index_add_(0, b_idx, contrib)
        signal = sources.reshape(batch_size, -1) @ self.leadfield.T
        snr_db = self._uniform((batch_size,), *cfg.snr_db, generator)
        sensors = signal + self._noise(signal, snr_db, generator)
        return SimulatedBatch(
            sources=sources,
            sensors=sensors,
            snr_db=snr_db,
            n_active=n_active,
            centers=torch.where(active, centers, -1),
            extents=extents * active,
        )

    def _noise(self, signal, snr_db, generator):
        noise = torch.randn(signal.shape, generator=generator, device=self.device)
        noise = noise - noise.mean(dim=1, keepdim=True)  # average reference
        p_signal = signal.pow(2).mean(dim=1, keepdim=True)
        p_noise = noise.pow(2).mean(dim=1, keepdim=True)
        gain = torch.sqrt(p_signal / p_noise / 10 ** (snr_db[:, None] / 10))
        return noise * gain


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
