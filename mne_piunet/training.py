"""Training: fresh simulated samples every step, L1 loss, AdamW, resumable."""

import dataclasses
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import mne
import numpy as np
import torch
from mne.utils import ProgressBar, logger, use_log_level, verbose

from ._docs import fill_doc
from ._eeg import average_reference, electrode_directions, forward_eeg_info
from ._grid import GridSpec, VoxelGrid, forward_source_positions
from ._io import atomic_path
from ._mne_private import check_option, source_space_subject, validate_type
from ._model import (
    ENSEMBLE_SHARED,
    PRECISIONS,
    PIUNet,
    autocast_network,
    check_model,
    ensemble_with_info,
    get_device,
    split_ensemble,
    use_bf16,
)
from ._network import UNet3D, UNetConfig
from ._physics import InitKernel, make_init_kernel
from .simulation import (
    NoiseConfig,
    SimulationConfig,
    SourceSimulator,
    background_noise_covariance,
)

_CKPT = "checkpoint.pt"
_LOG = "train_log.jsonl"
# Per-sample error norms never go below this: a silent sample whose init
# shows nothing then weighs nothing instead of dividing by zero.
_NORM_FLOOR = 1e-30
LOSS_NORMS = ("max", "mass", "geometric")
LOSSES = ("l1", "l2")
LR_SCHEDULES = ("plateau", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained.

    Parameters
    ----------
    network : UNetConfig
        The architecture (default: a CPU-sized U-Net; the paper's is
        ``UNetConfig()``).
    spacing : float
        Grid spacing in metres.
    grid_shape : tuple of int | None
        Grid shape; ``None`` picks the smallest that holds the forward's
        sources with ``margin`` voxels around them.
    margin : int
        Empty voxels kept around the sources when ``grid_shape`` is None.
    simulation : SimulationConfig
        The training distribution.
    focus : SimulationConfig | None
        A second distribution that a share ``focus_prob`` of the batches is
        drawn from (for example focal single sources at high SNR, where the
        maximum must land on the right voxel). ``None``: every batch from
        ``simulation``.
    focus_prob : float
        Probability that a batch is drawn from ``focus``.
    init : str
        Physics init method.
    lambda2 : float
        Regularisation of the init.
    n_channels : tuple of int | None
        Robustness to montages: every step keeps a random subset of between
        ``n_channels[0]`` and ``n_channels[1]`` of the forward's electrodes
        (average-referenced anew) and uses the init computed for that
        subset. ``None`` always uses all electrodes.
    lambda2_range : tuple of float | None
        Robustness to the regularisation: every step uses an init computed
        with a lambda2 drawn log-uniformly in this range. ``None`` always
        uses ``lambda2``.
    n_kernels : int
        With ``n_channels`` or ``lambda2_range``, how many (electrode subset,
        lambda2) init kernels are computed once at the start (one inverse
        operator each) and drawn from at every step.
    noise : NoiseConfig | None
        Coloured noise: a pool of noise covariances, each batch's noise drawn
        from one and its init computed with it (as users pass their noise
        covariance). ``None``: white sensor noise and the init of
        ``train_model``'s ``noise_cov`` only.
    batch_size : int
        Samples per step.
    n_steps : int
        Most optimisation steps.
    lr : float
        AdamW learning rate.
    weight_decay : float
        AdamW weight decay.
    val_samples : int
        Size of the fixed, seeded validation set.
    val_every : int
        Steps between validations (and checkpoints).
    patience : int
        Validations without improvement before the learning rate is halved
        (with ``lr_schedule="plateau"``); training stops after
        ``3 * patience`` such validations.
    lr_schedule : "plateau" | "cosine"
        ``"plateau"``: the learning rate is halved whenever the validation
        stops improving for ``patience`` validations. ``"cosine"``: it falls
        from ``lr`` to 0 along half a cosine over ``n_steps`` steps, the
        usual last phase of a run that has levelled off at a constant rate.
    seed : int
        Seed of everything random.
    pooled_scales : tuple of int
        Add to the L1 loss the amplitude moved between cells of each of
        these sizes (in voxels) times the size: a multi-scale surrogate of
        the earth mover's distance. ``()``: L1 alone. Validation schedules
        the learning rate and keeps the best model on this objective, and
        logs the L1 alone too (``val_l1``), so runs compare.
    loss : "l1" | "l2"
        The point-wise error: absolute (``"l1"``, the paper's) or squared
        (``"l2"``, each sample's divided by the square of its norm, see
        ``loss_norm``; with ``"geometric"`` that is the largest times the
        mean true moment, so an all-zero map scores at most 1 whatever the
        sources' size). Where the data leave a source's place uncertain (many
        sources, low SNR) the best L1 map is the per-point median of the
        plausible maps, which is zero wherever a source is less likely than
        not, so it stays focal; the best L2 map is their mean, which spreads
        the amplitude over the plausible places, as the earth mover's
        distance rewards.
    loss_norm : "max" | "mass" | "geometric"
        What each sample's error is divided by in the objective: its largest
        true moment (``"max"``, the paper's), its mean true moment
        magnitude (``"mass"``), or the geometric mean of the two
        (``"geometric"``). Under ``"max"`` a focal single source, a few
        non-zero points, weighs a hundredth of ten wide sources, so the
        network learns little about where its maximum lies; under
        ``"mass"`` every sample's error is relative to its own size (an
        all-zero map scores 1) and counts alike; ``"geometric"`` is in
        between (about the square root of the ``"max"`` ratio between focal
        and wide samples). Validation selects on the
        objective and logs ``val_l1`` (relative to the maximum) too.
    amplitude : "fit" | "init"
        The amplitude rule of the refine step in training (see
        :func:`mne_piunet.apply_piunet`): ``"fit"`` (what inference uses by
        default) or ``"init"`` (the paper's; its direct gradient lets a
        network trained from scratch leave the all-zero plateau, which a
        1.8 M-parameter network did not do in 2,500 steps under ``"fit"``).
    precision : "auto" | "float32" | "bfloat16"
        Arithmetic of the training steps' network passes: ``"bfloat16"``
        autocast, ``"auto"`` where the hardware computes it natively.
        Validation always runs in float32. On a CPU with AVX512-BF16 (2
        threads, the default network) a step took 24 instead of 52 ms per
        sample, and the default model's validation L1 was the same to 5
        digits under either arithmetic.
    """

    network: UNetConfig = field(
        default_factory=lambda: UNetConfig(base_channels=16, num_res_blocks=1)
    )
    spacing: float = 0.007
    grid_shape: tuple | None = None
    margin: int = 1
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    focus: SimulationConfig | None = None
    focus_prob: float = 0.0
    init: str = "eLORETA"
    lambda2: float = 1.0 / 9.0
    n_channels: tuple | None = None
    lambda2_range: tuple | None = None
    n_kernels: int = 16
    noise: NoiseConfig | None = None
    batch_size: int = 8
    n_steps: int = 20000
    lr: float = 1e-3
    weight_decay: float = 1e-2
    val_samples: int = 256
    val_every: int = 100
    patience: int = 5
    lr_schedule: str = "plateau"
    seed: int = 0
    pooled_scales: tuple = ()
    loss: str = "l1"
    loss_norm: str = "max"
    amplitude: str = "fit"
    precision: str = "auto"

    def __post_init__(self):
        check_option("amplitude", self.amplitude, ("fit", "init"))
        check_option("loss", self.loss, LOSSES)
        check_option("loss_norm", self.loss_norm, LOSS_NORMS)
        check_option("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_option("precision", self.precision, PRECISIONS)
        if not 0 <= self.focus_prob <= 1 or (self.focus is None and self.focus_prob):
            raise ValueError(
                "focus_prob must be in [0, 1], and 0 without a focus distribution; "
                f"got focus_prob={self.focus_prob} with focus={self.focus}"
            )
        if self.loss == "l2" and self.pooled_scales:
            raise ValueError(
                "pooled_scales add absolute errors and need loss='l1', got "
                f"loss='l2' with pooled_scales={self.pooled_scales}"
            )
        if any(int(s) != s or s < 2 for s in self.pooled_scales):
            raise ValueError(
                "pooled_scales must be integers of at least 2, got "
                f"{self.pooled_scales}"
            )
        if (
            self.n_channels is not None
            and not 1 <= self.n_channels[0] <= self.n_channels[1]
        ):
            raise ValueError(
                f"n_channels must satisfy 1 <= min <= max, got {self.n_channels}"
            )
        if self.lambda2_range is not None and not (
            0 < self.lambda2_range[0] <= self.lambda2_range[1]
        ):
            raise ValueError(
                f"lambda2_range must be positive and ordered, got {self.lambda2_range}"
            )
        if self.n_kernels < 1:
            raise ValueError(f"n_kernels must be at least 1, got {self.n_kernels}")

    @property
    def augments_init(self):
        """Whether steps draw random electrode subsets or lambda2 values."""
        return self.n_channels is not None or self.lambda2_range is not None

    def to_dict(self):
        """Return the configuration as a JSON-friendly dict."""
        return _json_dict(self)

    @classmethod
    def from_dict(cls, config):
        """Build a configuration from :meth:`to_dict`'s output (e.g. a model card's).

        Settings added since the dict was written take their defaults.
        """
        saved = _with_defaults(config)
        for name, kind in _NESTED.items():
            if saved[name] is not None:
                saved[name] = kind(**_lists_as_tuples(saved[name]))
        return cls(**_lists_as_tuples(saved))


def _json_dict(config):
    """Return a dataclass as plain JSON types (tuples become lists, as saved)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _lists_as_tuples(saved):
    """Return a saved configuration dict with its lists as tuples again."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()}


def grid_for_forward(forward, spacing, factor, margin=1):
    """Smallest grid (sides multiple of ``factor``) that holds the sources.

    Parameters
    ----------
    forward : instance of Forward
        The forward solution.
    spacing : float
        Grid spacing in metres.
    factor : int
        Every side is a multiple of this.
    margin : int
        Empty voxels wanted on each side.

    Returns
    -------
    spec : GridSpec
        The grid.
    """
    rr = forward_source_positions(forward)
    need = np.round((rr.max(0) - rr.min(0)) / spacing).astype(int) + 1 + 2 * margin
    return GridSpec(tuple(int(-(-n // factor) * factor) for n in need), spacing)


@dataclass
class _InitSetup:
    """One way of turning sensor data into an init and the amplitude fit."""

    kernel: InitKernel
    gain: torch.Tensor  # whitened gain of the kernel's channels
    whitener: torch.Tensor
    rows: torch.Tensor | None = None  # channel subset (None: all)
    noise_colour: torch.Tensor | None = None  # noise covariance root (None: white)


@dataclass
class _Batch:
    """Network inputs and targets of one training step."""

    init: torch.Tensor  # (n, n_sources, 3)
    fit: tuple | None  # whitened data (n, n_channels), whitened gain; None: init
    target: torch.Tensor  # true moments (n, n_sources, 3)
    norm: torch.Tensor  # (n,): largest true moment (what the L1 is divided by)
    mass: torch.Tensor  # (n,): mean true moment magnitude (loss_norm="mass")


class _Problem:
    """Simulator, init setups and the placed grid, as torch operations on a device."""

    def __init__(self, forward, config, noise_cov, device):
        self.device = device
        self.gain = average_reference(forward["sol"]["data"])
        info = forward_eeg_info(forward)
        self.default = self._setup(info, forward, noise_cov, config.lambda2, config)
        if self.default.kernel.ch_names != forward["info"]["ch_names"]:
            raise RuntimeError("Kernel channels differ from the forward's")
        self.kernel_pool = []  # random montages and lambda2 (ad-hoc noise)
        if config.augments_init:
            self.kernel_pool = self._montage_pool(forward, config, noise_cov)
        self.coloured = []  # coloured-noise covariances, each with its own init
        if config.noise is not None:
            self.coloured = self._coloured_pool(forward, config)
        if config.grid_shape:
            self.spec = GridSpec(config.grid_shape, config.spacing)
        else:
            self.spec = grid_for_forward(
                forward, config.spacing, config.network.size_factor, config.margin
            )
        self.grid = VoxelGrid.from_forward(self.spec, forward)
        self.init_model = PIUNet(torch.nn.Identity(), self.spec)  # the init alone
        self.sim = SourceSimulator(forward, config.simulation, device=device)
        self.config = config

    def _setup(self, info, forward, noise_cov, lambda2, config, rows=None):
        kernel = make_init_kernel(
            info, forward, noise_cov, lambda2=lambda2, method=config.init
        )
        gain = self.gain if rows is None else average_reference(self.gain[rows])
        return _InitSetup(
            kernel,
            _float32(kernel.whitener @ gain, self.device),
            _float32(kernel.whitener, self.device),
            rows=None if rows is None else torch.as_tensor(rows, device=self.device),
        )

    def _montage_pool(self, forward, config, noise_cov):
        """Setups for random electrode subsets and lambda2 values (seeded)."""
        names = forward["info"]["ch_names"]
        lo, hi = config.n_channels or (len(names), len(names))
        if hi > len(names):
            raise ValueError(
                f"n_channels asks for up to {hi} electrodes, the forward has "
                f"{len(names)}"
            )
        lam_lo, lam_hi = config.lambda2_range or (config.lambda2, config.lambda2)
        rng = np.random.default_rng(config.seed + 20_000)
        pool = []
        for _ in ProgressBar(range(config.n_kernels), mesg="init kernels"):
            keep = np.sort(rng.choice(len(names), rng.integers(lo, hi + 1), False))
            lambda2 = float(np.exp(rng.uniform(np.log(lam_lo), np.log(lam_hi))))
            sub = mne.pick_channels_forward(
                forward, [names[i] for i in keep], ordered=True, verbose=False
            )
            with use_log_level("warning"):  # the same messages n_kernels times
                setup = self._setup(
                    forward_eeg_info(sub), sub, noise_cov, lambda2, config, rows=keep
                )
            pool.append(setup)
        return pool

    def _coloured_pool(self, forward, config):
        """Setups whose noise and init share a random coloured covariance."""
        noise, names = config.noise, forward["info"]["ch_names"]
        info = forward_eeg_info(forward)
        rng = np.random.default_rng(config.seed + 30_000)
        pool = []
        for _ in ProgressBar(range(noise.n_covariances), mesg="noise covariances"):
            cov = background_noise_covariance(
                forward,
                int(rng.integers(noise.n_background[0], noise.n_background[1] + 1)),
                float(rng.uniform(*noise.sensor_noise_db)),
                rng,
            )
            evals, evecs = np.linalg.eigh(cov)
            colour = evecs * np.sqrt(evals.clip(min=0))
            mne_cov = mne.Covariance(cov, names, [], info["projs"], nfree=1000)
            with use_log_level("error"):  # rank messages, once per covariance
                setup = self._setup(
                    info,
                    forward,
                    mne_cov,
                    config.lambda2,
                    config,
                )
            setup.noise_colour = _float32(colour, self.device)
            pool.append(setup)
        return pool

    def pick_setup(self, generator, *, montage=False):
        """Draw the init setup of a batch: noise colour, montage, lambda2."""
        noise = self.config.noise
        if self.coloured and not _chance(noise.white_prob, generator):
            setup = _draw(self.coloured, generator)
            if noise.unwhitened_prob and _chance(noise.unwhitened_prob, generator):
                # this noise, inverted as if it were white (no covariance)
                return dataclasses.replace(
                    self.default, noise_colour=setup.noise_colour
                )
            return setup
        if montage and self.kernel_pool:
            return _draw(self.kernel_pool, generator)
        return self.default

    def make_batch(self, n, generator, *, montage=False):
        """Simulate ``n`` samples and their inits with one drawn setup."""
        setup = self.pick_setup(generator, montage=montage)
        batch = self.sim.sample(
            n,
            generator,
            noise_colour=setup.noise_colour,
            config=self._draw_simulation(generator),
        )
        init, fit = self.init_from_sensors(batch.sensors, setup)
        if self.config.amplitude == "init":
            fit = None  # the refine rule scales by the init's maximum
        norm = batch.sources.abs().amax(dim=(1, 2))
        mass = batch.sources.abs().mean(dim=(1, 2))
        silent = norm == 0
        if silent.any():  # baselines: errors relative to what the init shows
            with torch.no_grad():  # the refine rule with an identity network
                shown = self.init_model.refine(init, self.grid, fit=fit).abs()
            norm = torch.where(silent, shown.amax(dim=(1, 2)), norm)
            mass = torch.where(silent, shown.mean(dim=(1, 2)), mass)
        return _Batch(
            init,
            fit,
            batch.sources,
            norm.clamp_min(_NORM_FLOOR),
            mass.clamp_min(_NORM_FLOOR),
        )

    def _draw_simulation(self, generator):
        """Return the focus distribution with its probability, else None."""
        if self.config.focus is None:  # no draw: plain runs keep their stream
            return None
        return self.config.focus if _chance(self.config.focus_prob, generator) else None

    def init_from_sensors(self, sensors, setup=None):
        """Physics init (n, n_sources, 3) and amplitude fit of sensor data.

        ``setup.rows`` keeps a subset of the channels, average-referenced anew.
        """
        setup = self.default if setup is None else setup
        if setup.rows is not None:
            sensors = average_reference(sensors[:, setup.rows], axis=1)
        init = setup.kernel.apply(sensors.T, device=self.device, dtype=torch.float32)
        return init, (sensors @ setup.whitener.T, setup.gain)


class _HeadPool:
    """Problems of several heads sharing one source space: each batch draws one."""

    def __init__(self, forwards, config, noise_cov, device):
        if noise_cov is not None and len(forwards) > 1:
            raise ValueError(
                "noise_cov belongs to one recording's channels: with several "
                "forwards pass noise_cov=None and use TrainConfig.noise for "
                "coloured noise"
            )
        positions = forward_source_positions(forwards[0])
        for k, fwd in enumerate(forwards[1:], 1):
            other = forward_source_positions(fwd)
            if other.shape != positions.shape or not np.allclose(
                other, positions, atol=1e-6
            ):
                raise ValueError(
                    f"forward[{k}] has other source positions than forward[0] "
                    f"({len(other)} vs {len(positions)} sources): the heads of a "
                    "pool must share one source space"
                )
        self.heads = []
        for fwd in forwards:
            head = _Problem(fwd, config, noise_cov, device)
            if self.heads:
                _share_source_space(head, self.heads[0])
            self.heads.append(head)
        first = self.heads[0]  # grid, device, config: the same for every head
        self.spec, self.grid, self.device = first.spec, first.grid, first.device
        self.init_model = first.init_model

    def make_batch(self, n, generator, *, montage=False):
        """Draw a head and return its :meth:`_Problem.make_batch`."""
        head = self.heads[0]
        if len(self.heads) > 1:  # one head: the random stream of a plain run
            head = _draw(self.heads, generator)
        return head.make_batch(n, generator, montage=montage)


def _share_source_space(head, first):
    """Keep one copy of what depends on the shared source positions alone.

    The grid, the identity model and the simulator's point distances (114 MB
    for 5,334 points) are the same for every head of a pool.
    """
    head.spec, head.grid, head.init_model = first.spec, first.grid, first.init_model
    head.sim.positions, head.sim.dist2 = first.sim.positions, first.sim.dist2


def _chance(prob, generator):
    """Return True with probability ``prob`` (one uniform draw)."""
    u = torch.rand(1, generator=generator, device=generator.device)
    return float(u) < prob


def _draw(options, generator):
    k = torch.randint(len(options), (1,), generator=generator, device=generator.device)
    return options[int(k)]


def _mean_loss(model, grid, batches, network=None, objective=None):
    """Sample-weighted mean of :func:`_loss` over batches, as a float."""
    total = sum(
        float(_loss(model, grid, b, network, objective)) * len(b.init) for b in batches
    )
    return total / sum(len(b.init) for b in batches)


def _float32(array, device):
    return torch.as_tensor(array, dtype=torch.float32, device=device)


def _loss(model, grid, batch, network=None, objective=None):
    """Mean error of the refined moments, each sample relative to its norm.

    ``objective`` (a :class:`TrainConfig`) makes it the training objective:
    with ``loss="l2"`` the mean squared error over the squared norm,
    :func:`_pooled_error` added at each of its ``pooled_scales``, each sample
    divided by the norm its ``loss_norm`` names. ``None``: the L1 relative to
    the largest moment, what the logs call ``val_l1`` (comparable across
    runs).
    """
    out = model.refine(batch.init, grid, fit=batch.fit, network=network)
    if objective is not None and objective.loss == "l2":
        # divide before squaring: the norm's floor squared underflows float32
        norm = _sample_norm(batch, objective.loss_norm)[:, None, None]
        return ((out - batch.target) / norm).square().mean()
    error = (out - batch.target).abs().mean(dim=(1, 2))
    if objective is None:
        return (error / batch.norm).mean()
    for scale in objective.pooled_scales:
        error = error + _pooled_error(out, batch.target, grid, scale)
    return (error / _sample_norm(batch, objective.loss_norm)).mean()


def _sample_norm(batch, loss_norm):
    """Return what each sample's error is divided by (see ``loss_norm``)."""
    if loss_norm == "max":
        return batch.norm
    if loss_norm == "mass":
        return batch.mass
    return batch.norm.sqrt() * batch.mass.sqrt()  # the product may underflow


def _pooled_error(out, target, grid, scale):
    """Amplitude moved between cells of ``scale`` voxels, times the cell size.

    Summed over scales 2, 4, 8, ... this is the classic multi-scale surrogate
    of the earth mover's distance between the two amplitude maps (within a
    constant factor of it): misplacing a source costs more the farther it
    is, which a point-wise L1 does not see. The cells are aligned to the
    grid, so nearby shifts may cost alike. Normalised like the L1 term (per
    moment).
    """
    diff = grid.to_volume(out).norm(dim=1) - grid.to_volume(target).norm(dim=1)
    pad = [p for n in reversed(diff.shape[1:]) for p in (0, -n % scale)]
    mass = (
        torch.nn.functional.avg_pool3d(
            torch.nn.functional.pad(diff, pad)[:, None], scale
        )
        * scale**3
    )
    return scale * mass.abs().sum(dim=(1, 2, 3, 4)) / (3 * grid.n_points)


@verbose
@fill_doc
def train_model(
    forward,
    config=None,
    *,
    noise_cov=None,
    pretrained=None,
    device=None,
    checkpoint_dir=None,
    resume=False,
    time_limit=None,
    verbose=None,
):
    """Train a 3D-PIUNet model on simulated data for a forward model.

    Every step draws fresh samples (:class:`mne_piunet.simulation.SourceSimulator`),
    computes the physics init and minimises the L1 distance between the
    network's output, read back at the sources, and the true source field
    (both normalised by their largest absolute value) with AdamW. The learning
    rate is halved when the loss on a fixed, seeded validation set stops
    improving; training stops early when it stays flat.

    Under ``torchrun`` with several processes, training runs data-parallel
    with :class:`torch.nn.parallel.DistributedDataParallel` (gloo on CPU,
    NCCL on CUDA); only rank 0 writes checkpoints and logs.

    Parameters
    ----------
    forward : instance of Forward | list of Forward
        Free-orientation EEG forward solution to train for, or several that
        share one source space (a pool of head models, e.g. from
        :func:`mne_piunet.template.make_template_head_pool`): every batch
        draws one, and so does every batch of the validation set. The model
        card describes the first.
    config : TrainConfig | None
        Training configuration; ``None`` uses the defaults.
    %(noise_cov)s
    pretrained : PIUNet | path-like | None
        Start from this model's weights (fine-tuning, e.g. of a pretrained
        model to another head model or to random montages) instead of a
        random initialisation. Its network configuration must equal
        ``config.network`` and its grid the training grid. A checkpoint
        resumed with ``resume=True`` takes precedence.
    device : str | torch.device | None
        Where to train (``None``: CUDA when available).
    checkpoint_dir : path-like | None
        Folder for ``checkpoint.pt`` (overwritten at every validation) and
        ``train_log.jsonl``.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` exactly where it
        stopped (model, optimiser, scheduler and random state).
    time_limit : float | None
        Stop (after a validation and checkpoint) once this many seconds have
        passed in this call; resume later with ``resume=True``. Ctrl-C
        stops the run too, without the step it interrupts: the best model so
        far is returned, and ``resume=True`` goes on from the last
        checkpoint.
    %(verbose)s

    Returns
    -------
    model : PIUNet
        The model with the best validation loss, its training summary in
        ``model.info["training"]``.
    """
    config = TrainConfig() if config is None else config
    validate_type(config, TrainConfig, "config")
    validate_type(forward, (mne.Forward, list, tuple), "forward")
    forwards = [forward] if isinstance(forward, mne.Forward) else list(forward)
    if not forwards:
        raise ValueError("forward must be a Forward or a non-empty list of them")
    for k, fwd in enumerate(forwards):
        validate_type(fwd, mne.Forward, f"forward[{k}]")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    rank, world = _init_distributed(device)
    device = get_device(device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.manual_seed(config.seed)
    problem = _HeadPool(forwards, config, noise_cov, device)
    if pretrained is not None:
        pretrained = _load_pretrained(pretrained, config, problem.spec)
    run = _start_run(problem, config, pretrained, rank, world)
    ckpt = Path(checkpoint_dir) / _CKPT if checkpoint_dir is not None else None
    run.ckpt = ckpt if rank == 0 else None  # one writer
    if resume and ckpt.is_file():
        _load_checkpoint(run, ckpt)
    logger.info(
        f"Training {sum(p.numel() for p in run.network.parameters()) / 1e6:.2f} M "
        f"parameters on grid {problem.spec.shape} ({device}, {world} process(es)); "
        f"validation L1 of the {config.init} init: {run.init_loss:.4f}"
    )
    deadline = None if time_limit is None else time.time() + float(time_limit)
    _train_loop(run, deadline)
    network = run.network
    if run.state["best_state"] is not None:
        network.load_state_dict(run.state["best_state"])
    info = dict(
        init=config.init,
        lambda2=config.lambda2,
        head_model=_describe_forward(forwards[0]),
        training=_training_card(run, _hardware(device, world), world),
    )
    # the heads' channel counts tell a pool's card from a single head's
    info["training"]["head_pool_channels"] = [int(f["nchan"]) for f in forwards]
    if pretrained is not None:
        info["training"]["pretrained"] = pretrained.info.get("training", {})
    return PIUNet(network.cpu().eval(), problem.spec, info)


@verbose
@fill_doc
def finetune_model(
    forward,
    model=None,
    *,
    time_limit=900.0,
    n_steps=None,
    members=None,
    lr=1e-4,
    n_covariances=8,
    seed=7,
    noise_cov=None,
    device=None,
    verbose=None,
):
    """Fine-tune a trained model on another head model, within a time budget.

    The per-subject workflow: each network of ``model`` (each member of an
    ensemble such as the default, the time split evenly between them) goes on
    training from its weights on sources simulated through ``forward``, with
    the configuration it was trained with, shortened for a run of minutes
    (:func:`finetune_config`). An ensemble comes back as an ensemble with the
    same weights.

    Parameters
    ----------
    forward : instance of Forward
        Free-orientation EEG forward solution of the subject; its sources
        must fit the model's grid.
    model : PIUNet | path-like | str | None
        The model to fine-tune (``None``: the default).
    time_limit : float | None
        Seconds of training in all (the setup, seconds per network, comes on
        top); ``None``: no limit, ``n_steps`` ends the run.
    n_steps : int | None
        Most training steps of each network; ``None``: as many as
        ``time_limit`` allows.
    members : list of int | None
        Which networks of an ensemble to fine-tune, by position (``None``:
        all); the others are kept as they are and the time is split between
        the fine-tuned ones. For the default, ``members=[1]`` fine-tunes the
        large network only (see Notes).
    lr : float
        AdamW learning rate.
    n_covariances : int
        Noise covariances drawn from, for networks trained with coloured
        noise (fewer than the original runs': each takes a fraction of a
        second to set up).
    seed : int
        Seed of the simulated samples.
    %(noise_cov)s
    device : str | torch.device | None
        Where to train (``None``: CUDA when available).
    %(verbose)s

    Returns
    -------
    model : PIUNet
        The fine-tuned model; each network's card records the run and, under
        ``"pretrained"``, the card it started from.

    See Also
    --------
    train_model : Train with a configuration of your own.

    Notes
    -----
    Measured on the MNE sample subject's head (15 minutes on 2 CPU cores;
    the documentation's benchmarks page, *Fine-tuning the default on the
    subject's head*): with every network of the default fine-tuned, single
    sources get closer to the simulated truth but the real right-visual
    response's map moved forward (two seeds); with ``members=[1]`` single
    sources improve at least as much and the real responses stay in place,
    while five and ten simultaneous sources get worse than the default's.
    """
    model = check_model(model)
    _check_budget(time_limit, n_steps)
    networks = split_ensemble(model)
    chosen = _check_members(members, len(networks))
    share = None if time_limit is None else time_limit / len(chosen)
    for k in chosen:
        config = finetune_config(
            networks[k],
            n_steps=10**9 if n_steps is None else n_steps,  # else time ends it
            lr=lr,
            n_covariances=n_covariances,
            seed=seed,
        )
        logger.info(f"Fine-tuning network {k} ({len(networks)} in the model)")
        networks[k] = train_model(
            forward,
            config,
            noise_cov=noise_cov,
            pretrained=networks[k],
            device=device,
            time_limit=share,
        )
    if len(networks) == 1:
        return networks[0]
    # the fine-tuned networks' metadata (head model, for the montage check)
    shared = {key: networks[chosen[0]].info[key] for key in ENSEMBLE_SHARED}
    return ensemble_with_info(networks, model.network.weights, shared)


def _check_members(members, n_networks):
    """Return the positions of the networks to fine-tune, checked."""
    if members is None:
        return list(range(n_networks))
    validate_type(members, (list, tuple), "members")
    chosen = sorted(set(members))
    if not chosen or any(not _is_position(k, n_networks) for k in chosen):
        raise ValueError(
            f"members must be positions of the model's {n_networks} network(s), "
            f"0 to {n_networks - 1}, got {members}"
        )
    return chosen


def _is_position(k, n_networks):
    """Whether ``k`` is an integer (not a bool) from 0 to ``n_networks - 1``."""
    is_int = isinstance(k, int | np.integer) and not isinstance(k, bool)
    return is_int and 0 <= k < n_networks


def _check_budget(time_limit, n_steps):
    """Refuse a fine-tuning run without a positive time or step budget."""
    validate_type(time_limit, ("numeric", None), "time_limit")
    validate_type(n_steps, ("int-like", None), "n_steps")
    if time_limit is None and n_steps is None:
        raise ValueError("time_limit and n_steps cannot both be None")
    if time_limit is not None and not time_limit > 0:  # also refuses NaN
        raise ValueError(f"time_limit must be positive seconds, got {time_limit}")
    if n_steps is not None and n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")


def finetune_config(model, *, n_steps, lr=1e-4, n_covariances=8, seed=7):
    """Return the configuration :func:`finetune_model` fine-tunes a network with.

    The configuration the network was trained with (its model card's),
    shortened for a run of minutes: learning rate ``lr`` (halved on a
    validation plateau, whatever schedule the recipe had), ``n_covariances``
    noise covariances, a validation set of 64 samples checked every 200
    steps, on the model's grid. For runs that :func:`finetune_model` does not
    cover, e.g. with checkpoints: pass it to :func:`train_model` with
    ``pretrained=model``.

    Parameters
    ----------
    model : PIUNet
        A model with one network (one member of an ensemble).
    n_steps : int
        Most training steps.
    lr : float
        AdamW learning rate.
    n_covariances : int
        Noise covariances drawn from, for networks trained with coloured
        noise.
    seed : int
        Seed of the simulated samples.

    Returns
    -------
    config : TrainConfig
        The fine-tuning configuration.
    """
    saved = model.info.get("training", {}).get("config")
    if saved is None:
        raise ValueError(
            "The model card holds no training configuration to fine-tune with; "
            "use train_model with pretrained=model and a TrainConfig"
        )
    config = TrainConfig.from_dict(saved)
    noise = config.noise
    if noise is not None:
        noise = dataclasses.replace(noise, n_covariances=n_covariances)
    return dataclasses.replace(
        config,
        grid_shape=model.grid.shape,
        spacing=model.grid.spacing,
        noise=noise,
        lr=lr,
        lr_schedule="plateau",
        seed=seed,
        n_steps=int(n_steps),
        val_samples=64,
        val_every=min(200, int(n_steps)),
    )


@dataclass
class _Run:
    """What a training run carries from step to step."""

    config: TrainConfig
    problem: _HeadPool
    network: torch.nn.Module  # the bare network: checkpoints and validation
    step_model: callable  # what a step calls: network, DDP's wrapper, autocast
    model: PIUNet  # the network with its grid: the refine rule
    opt: torch.optim.Optimizer
    sched: object  # ReduceLROnPlateau or CosineAnnealingLR (config.lr_schedule)
    gen: torch.Generator
    val_batches: list  # of _Batch: the fixed, seeded validation set
    init_loss: float
    ckpt: Path | None = None  # None: this process writes nothing
    state: dict = field(
        default_factory=lambda: dict(
            step=0,
            best=float("inf"),
            bad=0,
            samples=0,
            wall=0.0,
            best_state=None,
            history=[],  # [step, validation L1] of every validation
        )
    )


def _start_run(problem, config, pretrained, rank, world):
    """Network, optimiser, scheduler, random state and the validation set."""
    device = problem.device
    network = UNet3D(config.network).to(device)
    if pretrained is not None:
        network.load_state_dict(pretrained.network.state_dict())
    step_model = network
    if world > 1:
        step_model = torch.nn.parallel.DistributedDataParallel(network)
    step_model = autocast_network(
        step_model, device, use_bf16(config.precision, device)
    )
    opt = torch.optim.AdamW(
        network.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    sched = _make_scheduler(opt, config)
    val_gen = torch.Generator(device=device).manual_seed(config.seed + 10_000)
    sizes = [min(32, config.val_samples - k) for k in range(0, config.val_samples, 32)]
    val_batches = [problem.make_batch(n, val_gen) for n in sizes]
    model = PIUNet(network, problem.spec)
    with torch.no_grad():  # the init alone: what the network must beat
        init_loss = _mean_loss(model, problem.grid, val_batches, torch.nn.Identity())
    gen = torch.Generator(device=device).manual_seed(config.seed + rank)
    run = _Run(
        config,
        problem,
        network,
        step_model,
        model,
        opt,
        sched,
        gen,
        val_batches,
        init_loss,
    )
    # [first step, device type] of each part of the run; the last is current
    run.state["devices"] = [[0, device.type]]
    return run


def _make_scheduler(opt, config):
    """Return the learning-rate schedule: stepped per validation or per step."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.n_steps)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=config.patience
    )


def _training_card(run, hardware, world):
    state = run.state
    return dict(
        config=run.config.to_dict(),
        steps=state["step"],
        samples_seen=state["samples"] * world,
        wall_time_s=round(state["wall"], 1),
        hardware=hardware,
        val_loss=state["best"],  # the objective (pooled terms, loss_norm)
        val_l1=state.get("best_l1", state["best"]),
        val_l1_init=run.init_loss,
        # an all-zero map: the floor any useful model must beat (sparse truth)
        val_l1_zero=_mean_loss(
            run.model, run.problem.grid, run.val_batches, lambda v: 0 * v
        ),
        log=log_summary(state["history"]),
        devices=state["devices"],
    )


def log_summary(history, n_points=12):
    """Thin a run's ``[step, validation L1]`` history to about ``n_points`` rows.

    Parameters
    ----------
    history : list of [int, float]
        Every validation of the run.
    n_points : int
        How many rows to keep (first and last included).

    Returns
    -------
    log : list of [int, float]
        The kept rows, L1 rounded to 4 decimals: the model card's learning
        curve.
    """
    if len(history) <= n_points:
        keep = range(len(history))
    else:
        keep = sorted(
            {round(k * (len(history) - 1) / (n_points - 1)) for k in range(n_points)}
        )
    return [[int(history[k][0]), round(float(history[k][1]), 4)] for k in keep]


def _load_pretrained(pretrained, config, spec):
    """Read a model to fine-tune and check that it fits ``config`` and ``spec``."""
    model = check_model(pretrained)
    if not isinstance(model.network, UNet3D):
        raise ValueError(
            "train_model fine-tunes a model with one UNet3D; this one's network "
            f"is a {type(model.network).__name__}: fine-tune it with "
            "mne_piunet.training.finetune_model (each member of an ensemble with "
            "its own recipe)"
        )
    if model.config != config.network:
        raise ValueError(
            f"The pretrained network ({model.config}) differs from "
            f"config.network ({config.network})"
        )
    if model.grid != spec:
        raise ValueError(
            f"The pretrained grid {model.grid} differs from the training grid {spec}"
        )
    return model


def _train_loop(run, deadline):
    """Train until ``n_steps``, an early stop, the deadline or Ctrl-C.

    Ctrl-C stops the run as the time limit does, without the last partial
    step: the best weights so far are returned and ``resume=True`` goes on
    from the last checkpoint.
    """
    from tqdm.auto import tqdm

    config, state = run.config, run.state
    bar = tqdm(  # a time-limited run shows the time left, not a step count's ETA
        total=None if deadline is not None else config.n_steps,
        initial=state["step"],
        desc="training",
        disable=logger.level > 20,
    )
    t0 = time.time()
    try:
        while state["step"] < config.n_steps:
            _train_step(run)
            bar.update(1)
            bar.set_postfix(**_progress(run, deadline))
            if state["step"] % config.val_every and state["step"] != config.n_steps:
                continue
            state["wall"] += time.time() - t0
            t0 = time.time()
            if _validate(run):
                logger.info(f"Early stop at step {state['step']}")
                break
            if deadline is not None and time.time() > deadline:
                logger.info(f"Time limit reached at step {state['step']}")
                break
    except KeyboardInterrupt:
        logger.info(
            f"Interrupted at step {state['step']}: returning the best weights so "
            "far; resume=True goes on from the last checkpoint"
        )
    finally:
        bar.close()


def _train_step(run):
    """Take one optimisation step on a fresh batch."""
    config, state = run.config, run.state
    run.network.train()
    batch = run.problem.make_batch(config.batch_size, run.gen, montage=True)
    loss = _loss(run.model, run.problem.grid, batch, run.step_model, objective=config)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    if config.lr_schedule == "cosine":
        run.sched.step()
    state["step"] += 1
    state["samples"] += config.batch_size
    running = state.get("running")
    running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
    state["running"] = running


def _progress(run, deadline):
    """Return the progress bar's running loss, learning rate and time left."""
    lr = run.opt.param_groups[0]["lr"]
    postfix = dict(loss=f"{run.state['running']:.4f}", lr=f"{lr:.1e}")
    if deadline is not None:
        postfix["left"] = f"{max(0, deadline - time.time()):.0f} s"
    return postfix


def _validate(run):
    """Score the validation set; step the scheduler; keep the best; checkpoint.

    Returns whether training should stop early.
    """
    state = run.state
    run.network.eval()
    config = run.config
    with torch.no_grad():
        val_l1 = _mean_loss(run.model, run.problem.grid, run.val_batches)
        val = val_l1  # the training objective: what schedules and selects
        if config.pooled_scales or config.loss_norm != "max" or config.loss != "l1":
            val = _mean_loss(run.model, run.problem.grid, run.val_batches, None, config)
    if config.lr_schedule == "plateau":
        run.sched.step(val)
    state.setdefault("history", []).append([state["step"], val_l1])
    if val < state["best"]:
        state["best"], state["best_l1"], state["bad"] = val, val_l1, 0
        state["best_state"] = {
            k: v.detach().cpu().clone() for k, v in run.network.state_dict().items()
        }
    else:
        state["bad"] += 1
    record = dict(
        step=state["step"],
        samples=state["samples"],
        train_loss=state["running"],
        val_loss=val,
        val_l1=val_l1,
        val_l1_init=run.init_loss,
        lr=run.opt.param_groups[0]["lr"],
        wall_s=round(state["wall"], 1),
    )
    logger.info(json.dumps(record))
    if run.ckpt is not None:
        _save_checkpoint(run)
        with open(run.ckpt.parent / _LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
    return state["bad"] >= 3 * run.config.patience


def _save_checkpoint(run):
    run.ckpt.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(
        network=run.network.state_dict(),
        optimizer=run.opt.state_dict(),
        scheduler=run.sched.state_dict(),
        rng=run.gen.get_state(),
        state={k: v for k, v in run.state.items() if k != "best_state"},
        best_state=run.state["best_state"],
        config=json.dumps(run.config.to_dict()),
    )
    with atomic_path(run.ckpt) as tmp:
        torch.save(payload, tmp)


_NESTED = dict(  # TrainConfig fields that hold another configuration
    network=UNetConfig,
    simulation=SimulationConfig,
    focus=SimulationConfig,
    noise=NoiseConfig,
)


def _with_defaults(saved):
    """Fill a saved TrainConfig dict with the defaults of settings added since."""
    saved = {**TrainConfig().to_dict(), **saved}
    for name, kind in _NESTED.items():
        if saved[name] is not None:
            saved[name] = {**_json_dict(kind()), **saved[name]}
    return saved


def _load_checkpoint(run, fname):
    payload = torch.load(fname, map_location="cpu", weights_only=True)
    saved = _with_defaults(json.loads(payload["config"]))
    if saved != run.config.to_dict():
        raise ValueError(f"The checkpoint {fname} was made with another TrainConfig")
    run.network.load_state_dict(payload["network"])
    run.opt.load_state_dict(payload["optimizer"])
    run.sched.load_state_dict(payload["scheduler"])
    state = dict(payload["state"], best_state=payload["best_state"])
    # older checkpoints kept the current device type alone, as "device_type"
    saved_type = state.pop("device_type", "cpu")
    state.setdefault("devices", [[0, saved_type]])
    run.state = state
    device_type = run.gen.device.type
    if state["devices"][-1][1] == device_type:
        run.gen.set_state(payload["rng"])
    else:
        _restart_on_new_device(run, device_type)
    logger.info(f"Resumed from step {run.state['step']} ({fname})")


def _restart_on_new_device(run, device_type):
    """Go on from a checkpoint written on another device type (CPU <-> CUDA).

    Random streams differ between device types: the training draws are
    reseeded and, as the validation set is drawn anew, its earlier scores
    are not comparable: the best score and the plateau counters restart, and
    the next validation's weights become the best.
    """
    state = run.state
    run.gen.manual_seed(run.config.seed + 7919 * state["step"])
    # the card's learning curve changes validation set at these steps
    state["devices"].append([state["step"], device_type])
    state.update(best=float("inf"), bad=0)
    if run.config.lr_schedule == "plateau":
        run.sched.best, run.sched.num_bad_epochs = float("inf"), 0
    logger.info(
        f"Checkpoint written on another device type: now on {device_type}, "
        "reseeded, validation scores restart"
    )


def _init_distributed(device):
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and (
            device is None or "cuda" in str(device)
        )
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return dist.get_rank(), world


def _describe_forward(forward):
    return dict(
        subject=source_space_subject(forward["src"]),
        n_channels=int(forward["nchan"]),
        n_sources=int(forward["nsource"]),
        src_kind=forward["src"].kind,
        ch_names=list(forward["info"]["ch_names"]),
        # electrode directions: the montage check of make_piunet_operator
        ch_dirs=electrode_directions(forward["info"]).round(3).tolist(),
    )


def _hardware(device, world):
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        name = f"{cpu} CPU, {torch.get_num_threads()} threads"
    return f"{world} x {name}"
