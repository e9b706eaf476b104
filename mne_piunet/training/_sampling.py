"""Training samples: simulated sources, their sensor data, inits and targets."""

from dataclasses import dataclass

import mne
import numpy as np
import torch
from mne.utils import ProgressBar, use_log_level

from .._grid import GridSpec, VoxelGrid, forward_source_positions
from .._mne_private import validate_type
from .._model import PIUNet
from .._physics import InitKernel, make_init_kernel
from .._sensors import covariance_root, eeg_mask, forward_data_info, reference_eeg
from ..simulation import SourceSimulator, background_noise_covariance
from ._config import TrainConfig, grid_for_forward

# Per-sample error norms never go below this: a silent sample whose init
# shows nothing then weighs nothing instead of dividing by zero.
NORM_FLOOR = 1e-30


@dataclass
class InitSetup:
    """One way of turning sensor data into an init and the amplitude fit."""

    kernel: InitKernel
    leadfield: torch.Tensor  # the gain the samples are simulated through
    gain: torch.Tensor  # whitened gain
    whitener: torch.Tensor
    noise_colour: torch.Tensor | None = None  # noise covariance root (None: white)


@dataclass
class Batch:
    """Network inputs and targets of one training step."""

    init: torch.Tensor  # (n, n_sources, 3)
    fit: tuple | None  # whitened data (n, n_channels), whitened gain; None: init
    target: torch.Tensor  # true moments (n, n_sources, 3)
    norm: torch.Tensor  # (n,): largest true moment (what the L1 is divided by)
    mass: torch.Tensor  # (n,): mean true moment magnitude (loss_norm="mass")


class Problem:
    """Simulator, init setups and the placed grid, as torch operations on a device."""

    def __init__(
        self,
        forward: mne.Forward | list,
        config: TrainConfig,
        noise_cov: mne.Covariance | None,
        device: torch.device,
    ):
        self.device = device
        self.config = config
        self.forwards = forward_pool(forward)
        forward = self.forwards[0]  # all share its sources and channels
        # white sensor noise: one init setup per forward
        self.whites = [self._setup(fwd, noise_cov) for fwd in self.forwards]
        self.coloured = []  # coloured-noise covariances, each with its own init
        if config.noise is not None:
            self.coloured = self._coloured_pool()
        if config.grid_shape:
            self.spec = GridSpec(config.grid_shape, config.spacing)
        else:
            self.spec = grid_for_forward(
                forward, config.spacing, config.network.size_factor, config.margin
            )
        self.grid = VoxelGrid.from_forward(self.spec, forward)
        self.init_model = PIUNet(torch.nn.Identity(), self.spec)  # the init alone
        self.sim = SourceSimulator(forward, config.simulation, device=device)

    @property
    def default(self) -> InitSetup:
        """The white-noise setup of the first forward."""
        return self.whites[0]

    def _setup(self, forward, noise_cov, leadfield=None):
        """Init setup of ``forward`` (``leadfield``: its simulation gain, if made)."""
        info = forward_data_info(forward)
        gain = reference_eeg(forward["sol"]["data"], eeg_mask(info))
        kernel = make_init_kernel(
            info,
            forward,
            noise_cov,
            lambda2=self.config.lambda2,
            method=self.config.init,
        )
        if kernel.ch_names != forward["info"]["ch_names"]:
            raise RuntimeError("Kernel channels differ from the forward's")
        return InitSetup(
            kernel,
            _float32(gain, self.device) if leadfield is None else leadfield,
            _float32(kernel.whitener @ gain, self.device),
            _float32(kernel.whitener, self.device),
        )

    def _coloured_pool(self):
        """Setups whose noise and init share a random coloured covariance.

        Covariance ``k`` belongs to forward ``k`` modulo the pool's size.
        """
        config, noise = self.config, self.config.noise
        rng = np.random.default_rng(config.seed + 30_000)
        pool = []
        for k in ProgressBar(range(noise.n_covariances), mesg="noise covariances"):
            forward = self.forwards[k % len(self.forwards)]
            white = self.whites[k % len(self.forwards)]
            cov = background_noise_covariance(
                forward,
                int(rng.integers(noise.n_background[0], noise.n_background[1] + 1)),
                float(rng.uniform(*noise.sensor_noise_db)),
                rng,
            )
            colour = covariance_root(cov)
            info = forward_data_info(forward)
            mne_cov = mne.Covariance(
                cov, info["ch_names"], [], info["projs"], nfree=1000
            )
            with use_log_level("error"):  # rank messages, once per covariance
                setup = self._setup(forward, mne_cov, white.leadfield)
            setup.noise_colour = _float32(colour, self.device)
            pool.append(setup)
        return pool

    def pick_setup(self, generator: torch.Generator) -> InitSetup:
        """Draw the init setup of a batch: white or one coloured noise."""
        if self.coloured and not chance(self.config.noise.white_prob, generator):
            return draw(self.coloured, generator)
        if len(self.whites) == 1:  # no draw: one forward keeps its stream
            return self.whites[0]
        return draw(self.whites, generator)

    def make_batch(self, n: int, generator: torch.Generator) -> Batch:
        """Simulate ``n`` samples and their inits with one drawn setup."""
        setup = self.pick_setup(generator)
        batch = self.sim.sample(
            n,
            generator,
            noise_colour=setup.noise_colour,
            config=self._draw_simulation(generator),
            leadfield=setup.leadfield,
        )
        init, fit = self.init_from_sensors(batch.sensors, setup)
        if self.config.amplitude == "init":
            fit = None  # the refine rule scales by the init's maximum
        norm = batch.sources.abs().amax(dim=(1, 2))
        mass = batch.sources.abs().mean(dim=(1, 2))
        silent = norm == 0
        if silent.any():  # baselines: errors relative to what the init shows
            with torch.no_grad():  # the refine rule with an identity network
                shown = self.init_model.refine(
                    init, self.grid, fit=fit, orientation="network"
                ).abs()
            norm = torch.where(silent, shown.amax(dim=(1, 2)), norm)
            mass = torch.where(silent, shown.mean(dim=(1, 2)), mass)
        return Batch(
            init,
            fit,
            batch.sources,
            norm.clamp_min(NORM_FLOOR),
            mass.clamp_min(NORM_FLOOR),
        )

    def _draw_simulation(self, generator):
        """Return the focus distribution with its probability, else None."""
        if self.config.focus is None:  # no draw: plain runs keep their stream
            return None
        return self.config.focus if chance(self.config.focus_prob, generator) else None

    def init_from_sensors(self, sensors: torch.Tensor, setup: InitSetup | None = None):
        """Physics init (n, n_sources, 3) and amplitude fit of sensor data."""
        setup = self.default if setup is None else setup
        init = setup.kernel.apply(sensors.T, device=self.device, dtype=torch.float32)
        return init, (sensors @ setup.whitener.T, setup.gain)


def chance(prob: float, generator: torch.Generator) -> bool:
    """Return True with probability ``prob`` (one uniform draw)."""
    u = torch.rand(1, generator=generator, device=generator.device)
    return float(u) < prob


def draw(options: list, generator: torch.Generator):
    """Return one of ``options``, uniformly."""
    k = torch.randint(len(options), (1,), generator=generator, device=generator.device)
    return options[int(k)]


def _float32(array, device):
    # astype: native byte order (a forward read from FIF is big-endian)
    return torch.as_tensor(np.asarray(array).astype(np.float32), device=device)


def forward_pool(forward: mne.Forward | list) -> list:
    """Return ``forward`` as a list of forwards that share sources and channels.

    A list holds one head and sensor array in several positions (for MEG,
    device-to-head transforms varied): the same channels and the same
    source points, another gain each.
    """
    forwards = list(forward) if isinstance(forward, list | tuple) else [forward]
    if not forwards:
        raise ValueError("forward must be a Forward or a non-empty list of them")
    for k, fwd in enumerate(forwards):
        validate_type(fwd, mne.Forward, f"forward[{k}]" if k else "forward")
    first = forwards[0]
    rr = forward_source_positions(first)
    for k, fwd in enumerate(forwards[1:], 1):
        if fwd["info"]["ch_names"] != first["info"]["ch_names"]:
            raise ValueError(
                f"forward[{k}] has other channels than forward[0]: every forward "
                "of a pool must hold the same channels in the same order"
            )
        other = forward_source_positions(fwd)
        if other.shape != rr.shape or not np.allclose(other, rr, atol=1e-6):
            raise ValueError(
                f"forward[{k}] has other source points than forward[0] "
                f"({len(other)} and {len(rr)}): every forward of a pool must "
                "share one source space"
            )
    return forwards
