"""PIUNet: a trained network with its grid and metadata; safe file IO."""

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from mne.utils import logger, verbose

from ._device import autocast_network, memory_layout
from ._docs import fill_doc
from ._grid import GridSpec, VoxelGrid
from ._io import atomic_path
from ._mne_private import check_option, validate_type
from ._network import UNet3D, UNetConfig, UNetEnsemble
from ._physics import prior_weighted_minimum_norm
from ._version import __version__

ORIENTATIONS = ("physics", "network")  # inference: physics; training: network

_FORMAT = "mne-piunet"
_FORMAT_VERSION = "1"


class PIUNet:
    """A 3D-PIUNet model: the U-Net, its voxel grid and what it was trained on.

    Parameters
    ----------
    network : torch.nn.Module
        Maps volumes of shape (batch, 3, X, Y, Z) to volumes of the same
        shape. Usually a :class:`UNet3D` or a :class:`UNetEnsemble`.
    grid : GridSpec
        Shape and spacing of the grid the network works on.
    info : dict | None
        Metadata: training head model, init method and ``lambda2``, training
        summary (the model card). Must be JSON-serialisable.

    Attributes
    ----------
    network : torch.nn.Module
        The network.
    grid : GridSpec
        The grid.
    info : dict
        The metadata; ``info["mne_piunet_version"]`` is the version that made
        the model.
    """

    def __init__(
        self, network: torch.nn.Module, grid: GridSpec, info: dict | None = None
    ):
        validate_type(network, torch.nn.Module, "network")
        validate_type(grid, GridSpec, "grid")
        validate_type(info, (dict, None), "info")
        factor = getattr(network, "size_factor", 1)
        if any(s % factor for s in grid.shape):
            raise ValueError(
                f"Grid shape {grid.shape} is not divisible by the network's "
                f"size factor {factor}"
            )
        self.network = network.eval()
        self.grid = grid
        self.info = dict(info or {})
        self.info.setdefault("mne_piunet_version", __version__)
        json.dumps(self.info)  # fail early, not at save time

    @property
    def config(self) -> UNetConfig | None:
        """The :class:`UNetConfig` of the network (None if not a UNet3D)."""
        return getattr(self.network, "config", None)

    @property
    def init(self) -> str:
        """Init method the model was trained with (default ``"eLORETA"``)."""
        return self.info.get("init", "eLORETA")

    @property
    def lambda2(self) -> float:
        """Regularisation the model was trained with (default 1/9)."""
        return float(self.info.get("lambda2", 1.0 / 9.0))

    def __repr__(self):  # noqa: D105
        n_params = sum(p.numel() for p in self.network.parameters())
        shape = "x".join(map(str, self.grid.shape))
        return (
            f"<PIUNet | grid {shape} at {self.grid.spacing * 1e3:g} mm, "
            f"{n_params / 1e6:.2f} M parameters, init {self.init}>"
        )

    @fill_doc
    def refine(
        self,
        init: torch.Tensor,
        grid: VoxelGrid,
        *,
        fit: tuple | None = None,
        orientation: str = "physics",
        blend: float = 0.0,
        network: Callable | None = None,
        pattern: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Refine a physics init: the one rule of inference and training.

        Each sample (time point) is divided by its largest absolute moment,
        placed on the grid, passed through the network and read back at the
        source points: the network gives the spatial pattern. Its amplitude
        comes from the data: with ``fit``, the factor whose forward
        projection best fits the whitened data (least squares, what
        inference uses); without, the init's largest moment (the paper's
        rule). An all-zero init gives zero.

        Parameters
        ----------
        %(init_moments)s
        %(model_grid)s
        fit : tuple of torch.Tensor | None
            ``(data, gain)``: the whitened sensor data, shape (n, n_channels),
            and the whitened gain, shape (n_channels, n_points * 3) with the
            three components of each point together; a third element, the
            gain's point covariances (:func:`point_covariances`), makes
            :meth:`finish` faster where it runs a minimum norm.
        orientation : "physics" | "network"
            What gives each point's moment: the network's map finished by the
            data's physics at the source points (what inference uses,
            :meth:`finish`) or the network's output vectors (what the
            training loss scores: the network's own output).
        blend : float
            Share, from 0 to 1, of the init's map in the pattern
            (:func:`blend_with_init`); ``0`` keeps the network's.
        network : callable | None
            What maps the input volumes to output volumes (e.g. the network
            under autocast); ``None`` uses ``self.network``.
        pattern : torch.Tensor, shape (n, n_points, 3) | None
            The network's output read back at the source points, when it is
            already known (:meth:`pattern`, e.g. smoothed over time); ``None``
            runs the network.

        Returns
        -------
        sources : torch.Tensor, shape (n, n_points, 3)
            The refined moments, in the dtype of ``init``.
        """
        check_option("orientation", orientation, ORIENTATIONS)
        if pattern is None:
            pattern = self.pattern(init, grid, network=network)
        pattern = pattern.to(init.dtype)
        if orientation == "physics":
            pattern = self.finish(pattern, init, grid, fit)
        return self.scale(pattern, init, fit=fit, blend=blend)

    @staticmethod
    @fill_doc
    def scale(
        pattern: torch.Tensor,
        init: torch.Tensor,
        *,
        fit: tuple | None = None,
        blend: float = 0.0,
    ) -> torch.Tensor:
        """Mix in the init's share, then scale: the last step of :meth:`refine`.

        Parameters
        ----------
        pattern : torch.Tensor, shape (n, n_points, 3)
            The finished map (:meth:`finish`).
        %(init_moments)s
        fit : tuple of torch.Tensor | None
            As for :meth:`refine`.
        blend : float
            As for :meth:`refine`.

        Returns
        -------
        sources : torch.Tensor, shape (n, n_points, 3)
            The refined moments.
        """
        if blend:
            pattern = blend_with_init(pattern, init, blend)
        if fit is None:
            return pattern * _largest_moment(init)
        return pattern * least_squares_amplitude(pattern, *fit[:2])

    @fill_doc
    def finish(
        self,
        pattern: torch.Tensor,
        init: torch.Tensor,
        grid: VoxelGrid,
        fit: tuple | None,
    ) -> torch.Tensor:
        """Give the network's map the data's physics at the source points.

        Where each source point owns a voxel (a volume source space on the
        grid's lattice), the map is the network's, each point along the
        init's direction (:func:`with_orientations`); so too without ``fit``
        (no data). Where the points are finer than the grid (a cortex: the
        7 mm grid cannot follow a sulcal wall), the network's map
        (magnitudes; their scale does not matter) is the prior of a
        depth-weighted minimum norm of the data at the points, sharpened by
        how well each point alone explains the data where the data's SNR
        allows it (:func:`prior_weighted_minimum_norm`), which gives each
        point's moment: within the network's map, the data choose the
        vertices.

        Parameters
        ----------
        pattern : torch.Tensor, shape (n, n_points, 3)
            The network's output at the source points.
        %(init_moments)s
        %(model_grid)s
        fit : tuple of torch.Tensor | None
            As for :meth:`refine`.

        Returns
        -------
        finished : torch.Tensor, shape (n, n_points, 3)
            Moments in the dtype of ``init`` (their scale is set by the
            amplitude rule of :meth:`refine`).
        """
        if fit is None or grid.exact:
            return with_orientations(pattern, init)
        data, gain, *covariances = fit
        return prior_weighted_minimum_norm(
            pattern.norm(dim=2),
            data.to(init.dtype),
            gain,
            lambda2=self.lambda2,
            covariances=covariances[0] if covariances else None,
        ).to(init.dtype)

    @fill_doc
    def pattern(
        self, init: torch.Tensor, grid: VoxelGrid, *, network: Callable | None = None
    ) -> torch.Tensor:
        """Return the network's map for ``init``, read back at the source points.

        The first half of :meth:`refine`: each sample divided by its largest
        absolute moment, placed on the grid, passed through the network.

        Parameters
        ----------
        %(init_moments)s
        %(model_grid)s
        network : callable | None
            What maps the input volumes to output volumes; ``None`` uses
            ``self.network``.

        Returns
        -------
        pattern : torch.Tensor, shape (n, n_points, 3)
            The output vectors at the source points, float32.
        """
        volume, _ = self.network_input(init, grid)
        network = self.network if network is None else network
        return grid.to_sources(network(volume))

    @staticmethod
    @fill_doc
    def network_input(init: torch.Tensor, grid: VoxelGrid) -> torch.Tensor:
        """Return the network's input volumes for ``init`` and their scales.

        Parameters
        ----------
        %(init_moments)s
        %(model_grid)s

        Returns
        -------
        volume : torch.Tensor, shape (n, 3, X, Y, Z)
            The normalised inits on the grid, float32.
        scale : torch.Tensor, shape (n, 1, 1)
            Each sample's largest absolute moment.
        """
        scale = _largest_moment(init)
        normalised = init / scale.clamp_min(torch.finfo(init.dtype).tiny)
        return grid.to_volume(normalised.float()), scale

    def inference_network(
        self, device: torch.device, *, bf16: bool = False
    ) -> Callable:
        """Return the network on ``device`` in its fastest layout, for :meth:`refine`.

        Parameters
        ----------
        device : torch.device
            Where the network runs.
        bf16 : bool
            Run the network under bfloat16 autocast (its output is float32).

        Returns
        -------
        network : callable
            Volumes in, volumes out; call it under :func:`torch.inference_mode`.
        """
        device = torch.device(device)
        layout = memory_layout(device)
        network = self.network.to(device, memory_format=layout).eval()
        autocast = autocast_network(network, device, bf16)
        return lambda volume: autocast(volume.contiguous(memory_format=layout))

    @verbose
    def save(
        self,
        fname: str | os.PathLike,
        *,
        overwrite: bool = False,
        half: bool = False,
        verbose: bool | str | int | None = None,
    ) -> None:
        """Save the model to a ``.safetensors`` file.

        Parameters
        ----------
        fname : path-like
            The file to write.
        overwrite : bool
            Whether to replace an existing file.
        half : bool
            Store the weights as float16 (half the size); they are cast back
            to float32 when read.
        %(verbose)s
        """
        from safetensors.torch import save_file

        fname = Path(fname)
        if fname.exists() and not overwrite:
            raise FileExistsError(f"{fname} exists; use overwrite=True to replace it")
        if isinstance(self.network, UNetEnsemble):
            config = self.network.to_dict()
        elif isinstance(self.config, UNetConfig):
            config = self.config.to_dict()
        else:
            raise TypeError(
                "Only models whose network is a UNet3D or a UNetEnsemble can be "
                f"saved, got {type(self.network).__name__}"
            )
        dtype = torch.float16 if half else torch.float32
        tensors = {
            k: v.detach().to("cpu", dtype).contiguous()
            for k, v in self.network.state_dict().items()
        }
        metadata = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "config": json.dumps(config),
            "grid": json.dumps(
                {"shape": list(self.grid.shape), "spacing": self.grid.spacing}
            ),
            "info": json.dumps(self.info),
        }
        with atomic_path(fname) as tmp:
            save_file(tensors, tmp, metadata=metadata)
        logger.info(f"Saved {self!r} to {fname}")


@verbose
def read_model(
    fname: str | os.PathLike | None = None, *, verbose: bool | str | int | None = None
) -> PIUNet:
    """Read a model saved with :meth:`PIUNet.save`, or a registered pretrained one.

    The file is a safetensors archive: reading it never executes code.

    Parameters
    ----------
    fname : path-like | str
        The model file, or the name of a registered pretrained model (see
        :func:`mne_piunet.datasets.model_names`), fetched with
        :func:`mne_piunet.datasets.fetch_model` when not cached.
    %(verbose)s

    Returns
    -------
    model : PIUNet
        The model, on the CPU, in evaluation mode.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    from .datasets import fetch_model, model_names

    validate_type(fname, "path-like", "fname")
    if isinstance(fname, str) and not Path(fname).exists():
        if fname in model_names():
            fname = fetch_model(fname)
        elif Path(fname).suffix != ".safetensors" and Path(fname).name == fname:
            raise ValueError(
                f"Unknown model {fname!r}: no such file, and not a registered "
                f"model name. Registered models: {model_names()}; or give the "
                "path of a .safetensors model file."
            )
    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(f"Model file not found: {fname}")
    try:
        with safe_open(fname, framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(fname)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"Could not read {fname} as an mne-piunet model (safetensors file): "
            f"the file is corrupt, truncated or of another format ({err})"
        ) from None
    if metadata.get("format") != _FORMAT:
        raise ValueError(
            f"{fname} is a safetensors file but not an mne-piunet model "
            f"(format={metadata.get('format')!r})"
        )
    try:
        network = _network_from_config(json.loads(metadata["config"]))
        grid = GridSpec(**json.loads(metadata["grid"]))
        info = json.loads(metadata["info"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{fname} has invalid model metadata: {err}") from None
    state = {k: v.float() for k, v in tensors.items()}
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"Weights in {fname} do not match its config: {err}") from None
    model = PIUNet(network, grid, info)
    logger.info(f"Read {model!r} from {fname}")
    return model


DEFAULT_MODEL = "default"
# the pretrained model that model=None means, by the data's modality
DEFAULT_MODELS = {"EEG": DEFAULT_MODEL, "MEG": "meg", "EEG+MEG": "eeg-meg"}
# what every member of an ensemble model shares: it is applied as one model
ENSEMBLE_SHARED = ("init", "lambda2", "head_model")


def make_ensemble(
    models: list, weights: tuple[float, ...] | list[float] | None = None
) -> PIUNet:
    """Combine trained models into one model that outputs their weighted mean.

    This is how the default model is made (see :class:`UNetEnsemble`). The
    models must share their grid, init method, ``lambda2`` and training head
    model; each one's model card is kept in ``info["ensemble"]["members"]``.

    Parameters
    ----------
    models : list of PIUNet
        The models, each with one :class:`UNet3D`.
    weights : tuple of float | None
        Positive weight of each model, normalised to sum to 1; ``None``
        weighs them equally.

    Returns
    -------
    model : PIUNet
        The ensemble model.
    """
    validate_type(models, (list, tuple), "models")
    for k, model in enumerate(models):
        validate_type(model, PIUNet, f"models[{k}]")
    if not models:
        raise ValueError("models must hold at least one model, got none")
    first = models[0]
    for k, model in enumerate(models[1:], 1):
        if model.grid != first.grid:
            raise ValueError(
                f"models[{k}]'s grid {model.grid} differs from {first.grid}"
            )
        for key in ENSEMBLE_SHARED:
            if model.info.get(key) != first.info.get(key):
                raise ValueError(
                    f"models[{k}]'s {key} ({model.info.get(key)}) differs from "
                    f"models[0]'s ({first.info.get(key)})"
                )
    shared = {key: first.info[key] for key in ENSEMBLE_SHARED if key in first.info}
    return ensemble_with_info(models, weights, shared)


def ensemble_with_info(models, weights, shared):
    """Return the ensemble of ``models`` with the metadata ``shared`` on top.

    Each member's card keeps what differs from ``shared`` (for example the
    head model of a member that was not fine-tuned with the others).
    """
    network = UNetEnsemble([m.network for m in models], weights)
    members = [
        {k: v for k, v in m.info.items() if k not in shared or v != shared[k]}
        for m in models
    ]
    info = dict(shared, ensemble=dict(weights=list(network.weights), members=members))
    return PIUNet(network, models[0].grid, info)


def split_ensemble(model):
    """Return the networks of a model as models of their own, each with its card.

    An ensemble gives one model per member (the inverse of
    :func:`make_ensemble`); any other model is returned alone, in a list.
    """
    if not isinstance(model.network, UNetEnsemble):
        return [model]
    shared = {key: model.info[key] for key in ENSEMBLE_SHARED if key in model.info}
    cards = model.info.get("ensemble", {}).get("members")
    if cards is None or len(cards) != len(model.network.members):
        cards = [{}] * len(model.network.members)  # an ensemble built by hand
    return [
        PIUNet(network, model.grid, {**shared, **card})
        for network, card in zip(model.network.members, cards, strict=True)
    ]


def _network_from_config(config):
    """Build the untrained network a saved model's ``config`` metadata describes."""
    if "members" in config:
        return UNetEnsemble.from_dict(config)
    return UNet3D(UNetConfig(**config))


def _largest_moment(init):
    """Each sample's largest absolute moment component, shape (n, 1, 1)."""
    return init.abs().amax(dim=(1, 2), keepdim=True)


def with_orientations(pattern, init):
    """Give a pattern's magnitudes the directions of another estimate.

    Parameters
    ----------
    pattern : torch.Tensor, shape (n, n_points, 3)
        Source patterns (their magnitudes are kept).
    init : torch.Tensor, shape (n, n_points, 3)
        Moments whose directions are taken (zero where a moment is zero).

    Returns
    -------
    oriented : torch.Tensor, shape (n, n_points, 3)
        ``|pattern_i| init_i / |init_i|`` at each point ``i``.
    """
    length = init.norm(dim=2, keepdim=True)
    directions = init / length.clamp_min(torch.finfo(init.dtype).tiny)
    return pattern.norm(dim=2, keepdim=True) * directions


def blend_with_init(pattern, init, share):
    """Mix a pattern's magnitudes with the init's, each map summing to one.

    Each point keeps the pattern's direction (the init's where the pattern
    is zero), and each sample the pattern's total magnitude, so that the
    amplitude rules see the scale they would without the init's share.

    Parameters
    ----------
    pattern : torch.Tensor, shape (n, n_points, 3)
        Source patterns.
    init : torch.Tensor, shape (n, n_points, 3)
        The physics estimate they refine.
    share : float
        Weight of the init's normalised magnitudes, from 0 to 1.

    Returns
    -------
    blended : torch.Tensor, shape (n, n_points, 3)
        ``(1 - share) * pattern + share * init`` in magnitudes, per sample
        normalised to sum to one and scaled back to the pattern's total.
    """
    tiny = torch.finfo(pattern.dtype).tiny
    length = pattern.norm(dim=2, keepdim=True)
    total = length.sum(dim=1, keepdim=True)
    init_length = init.norm(dim=2, keepdim=True)
    init_total = init_length.sum(dim=1, keepdim=True).clamp_min(tiny)
    magnitude = (1 - share) * length + share * total * init_length / init_total
    direction = torch.where(
        length > 0,
        pattern / length.clamp_min(tiny),
        init / init_length.clamp_min(tiny),
    )
    return direction * magnitude


def least_squares_amplitude(pattern, data, gain):
    """Factor per sample that best fits ``gain @ pattern`` to ``data``.

    Parameters
    ----------
    pattern : torch.Tensor, shape (n, n_points, 3)
        Source patterns.
    data : torch.Tensor, shape (n, n_channels)
        Whitened sensor data.
    gain : torch.Tensor, shape (n_channels, n_points * 3)
        Whitened gain matrix.

    Returns
    -------
    amplitude : torch.Tensor, shape (n, 1, 1)
        ``argmin_a |data - a gain pattern|^2`` (0 where the pattern is silent).
    """
    projected = pattern.reshape(len(pattern), -1) @ gain.T
    power = (projected * projected).sum(dim=1)
    fit = (projected * data).sum(dim=1) / power.clamp_min(torch.finfo(power.dtype).tiny)
    return fit[:, None, None]


def check_model(model, default=DEFAULT_MODEL):
    """Turn a PIUNet, a path, a registered name or None (``default``) into a PIUNet."""
    validate_type(model, (PIUNet, "path-like", None), "model")
    if isinstance(model, PIUNet):
        return model
    if model is None:
        logger.info(f"    Using the pretrained model {default!r}")
        model = default
    return read_model(model, verbose=False)
