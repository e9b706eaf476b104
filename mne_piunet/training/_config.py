"""How a model is trained: the configuration a model card records."""

import dataclasses
import json
from dataclasses import dataclass, field

import mne
import numpy as np

from .._device import PRECISIONS
from .._grid import GridSpec, forward_source_positions
from .._mne_private import check_option
from .._network import UNetConfig
from .._physics import INIT_METHODS
from ..simulation import NoiseConfig, SimulationConfig

LOSS_NORMS = ("max", "mass")
AMPLITUDES = ("fit", "init")


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
        Physics init method; the model card records it and inference uses
        it.
    lambda2 : float
        Regularisation of the init.
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
        Validations without improvement before the learning rate is halved;
        training stops after ``3 * patience`` such validations.
    seed : int
        Seed of everything random.
    loss_norm : "max" | "mass"
        What each sample's L1 error is divided by: its largest true moment
        (``"max"``, the paper's) or its mean true moment magnitude
        (``"mass"``, so that a focal source counts as much as wide ones).
        Validation selects on this objective and logs ``val_l1`` (relative
        to the maximum) too.
    amplitude : "fit" | "init"
        The amplitude rule of the refine step in training: ``"fit"`` (what
        inference uses) or ``"init"`` (the paper's; its direct gradient lets
        a large network trained from scratch leave the all-zero plateau).
    precision : "auto" | "float32" | "bfloat16"
        Arithmetic of the training steps' network passes: ``"bfloat16"``
        autocast, ``"auto"`` where the hardware computes it natively.
        Validation always runs in float32.
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
    noise: NoiseConfig | None = None
    batch_size: int = 8
    n_steps: int = 20000
    lr: float = 1e-3
    weight_decay: float = 1e-2
    val_samples: int = 256
    val_every: int = 100
    patience: int = 5
    seed: int = 0
    loss_norm: str = "max"
    amplitude: str = "fit"
    precision: str = "auto"

    def __post_init__(self):
        check_option("init", self.init, INIT_METHODS)
        check_option("amplitude", self.amplitude, AMPLITUDES)
        check_option("loss_norm", self.loss_norm, LOSS_NORMS)
        check_option("precision", self.precision, PRECISIONS)
        if not 0 <= self.focus_prob <= 1 or (self.focus is None and self.focus_prob):
            raise ValueError(
                "focus_prob must be in [0, 1], and 0 without a focus distribution; "
                f"got focus_prob={self.focus_prob} with focus={self.focus}"
            )
        for name in ("batch_size", "n_steps", "val_samples", "val_every", "patience"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-friendly dict."""
        return _json_dict(self)

    @classmethod
    def from_dict(cls, config: dict) -> "TrainConfig":
        """Build a configuration from :meth:`to_dict`'s output (e.g. a model card's).

        Settings added since the dict was written take their defaults;
        settings since retired are accepted at the value that meant "off".
        """
        saved = with_defaults(config)
        for name, kind in _NESTED.items():
            if saved[name] is not None:
                saved[name] = kind(**_lists_as_tuples(saved[name]))
        return cls(**_lists_as_tuples(saved))


# Settings of earlier versions that no shipped model used, with the value
# that meant "off" (None: any value, meaningless without the others).
_RETIRED = {
    "n_channels": None,
    "lambda2_range": None,
    "n_kernels": ...,
    "lr_schedule": "plateau",
    "pooled_scales": [],
    "loss": "l1",
}
_RETIRED_NOISE = {"unwhitened_prob": 0.0}

_NESTED = dict(  # TrainConfig fields that hold another configuration
    network=UNetConfig,
    simulation=SimulationConfig,
    focus=SimulationConfig,
    noise=NoiseConfig,
)


def _drop_retired(saved, retired, where):
    """Return ``saved`` without retired settings; refuse one that was on."""
    out = {}
    for key, value in saved.items():
        if key not in retired:
            out[key] = value
        elif retired[key] is not ... and value != retired[key]:
            raise ValueError(
                f"The configuration sets {where}{key}={value!r}, an option this "
                "version of mne-piunet no longer has (no shipped model used it); "
                "train with an earlier version or leave it out"
            )
    return out


def with_defaults(saved: dict) -> dict:
    """Fill a saved TrainConfig dict with the defaults of settings added since."""
    saved = {**TrainConfig().to_dict(), **_drop_retired(saved, _RETIRED, "")}
    for name, kind in _NESTED.items():
        if saved[name] is not None:
            nested = _drop_retired(saved[name], _RETIRED_NOISE, f"{name}.")
            saved[name] = {**_json_dict(kind()), **nested}
    return saved


def _json_dict(config):
    """Return a dataclass as plain JSON types (tuples become lists, as saved)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _lists_as_tuples(saved):
    """Return a saved configuration dict with its lists as tuples again."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()}


def grid_for_forward(
    forward: mne.Forward, spacing: float, factor: int, margin: int = 1
) -> GridSpec:
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
