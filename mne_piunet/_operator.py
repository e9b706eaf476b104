"""PIUNetOperator: the init kernel, grid and model for one recording setup.

Data flow, one batch of time points at a time: sensor data -> physics init
(the model's init method, an MNE inverse kernel) -> the model's refine rule
(grid, network, back to the sources, amplitude fitted to the data) ->
``pick_ori`` -> the source estimate class MNE would return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    from ._physics import InitKernel

from dataclasses import dataclass
from types import SimpleNamespace

import mne
import numpy as np
import torch
from mne.forward import is_fixed_orient
from mne.utils import logger, verbose, warn

from ._docs import fill_doc
from ._grid import VoxelGrid
from ._mne_private import (
    check_reference,
    get_src_nn,
    make_stc,
    source_space_subject,
    validate_type,
)
from ._model import DEFAULT_MODELS, PIUNet, check_model
from ._physics import (
    check_lambda2,
    kernel_from_inverse,
    make_free_inverse,
    point_covariances,
)
from ._sensors import (
    DATA_TYPES,
    channel_types,
    check_channel_count,
    electrode_directions,
    modality,
    montage_coverage,
    pick_good_channels,
)
from ._time import (
    interpolate_in_time,
    pattern_stride,
    smooth,
)
from ._uncertainty import (
    Calibration,
    credible_probability,
    reliability_features,
)

PICK_ORI = (None, "normal", "vector")
DEFAULT_LAMBDA2 = 1.0 / 9.0


@dataclass(frozen=True)
class RunSettings:
    """How the operator runs: output form, hedge, smoothing, batching, hardware."""

    pick_ori: str | None
    blend: float
    sigma: float  # data smoothing before the init, in samples
    pattern_sigma: float  # map smoothing, in samples
    batch_size: int
    device: torch.device
    bf16: bool

    def __str__(self):  # for the log: where and in which arithmetic
        return f"{self.device} ({'bfloat16' if self.bf16 else 'float32'})"


class PIUNetOperator:
    """Everything that turns M/EEG data of one recording setup into sources.

    Made by :func:`make_piunet_operator`; pass it to :func:`apply_piunet`,
    :func:`apply_piunet_epochs` or :func:`apply_piunet_raw` in place of the
    forward to reuse it for several data sets of the same channels, as with
    :func:`mne.minimum_norm.make_inverse_operator`.

    Attributes
    ----------
    ch_names : list of str
        The MEG and EEG channels the operator uses, in order.
    src : instance of SourceSpaces
        The source space of the forward.
    model : PIUNet
        The model.
    grid : VoxelGrid
        The model's grid placed around the sources.
    lambda2 : float
        The init's regularisation.
    noise_cov : instance of Covariance | None
        The noise covariance given (``None``: ad-hoc).
    """

    def __init__(
        self,
        inverse: mne.minimum_norm.InverseOperator,
        gain: np.ndarray,
        src: mne.SourceSpaces,
        model: PIUNet,
        grid: VoxelGrid,
        *,
        lambda2: float,
        noise_cov: mne.Covariance | None,
    ):
        self.inverse = inverse
        self.gain = gain  # (n_channels, n_sources * 3), x/y/z per source
        self.ch_names = list(inverse["noise_cov"].ch_names)
        self.src = src
        self.model = model
        self.grid = grid
        self.lambda2 = lambda2
        self.noise_cov = noise_cov
        self._kernels = {}  # nave -> InitKernel
        self._fit_maps = {}  # (nave, device) -> whitener, whitened gain[, covariances]

    @property
    def init(self) -> str:
        """The physics init method: the one the model was trained with."""
        return self.model.init

    @property
    def n_sources(self) -> int:
        """Number of source points."""
        return self.grid.n_points

    def __repr__(self):  # noqa: D105
        cov = "ad-hoc" if self.noise_cov is None else "given"
        types = ", ".join(self.inverse["info"].get_channel_types(unique=True))
        return (
            f"<PIUNetOperator | {len(self.ch_names)} channels ({types}), "
            f"{self.n_sources} {self.src.kind} sources, init {self.init} "
            f"(lambda2={self.lambda2:.4g}), {cov} noise covariance, "
            f"model {self.model!r}>"
        )

    def kernel(self, nave: int = 1) -> InitKernel:
        """Return the physics init kernel for data averaged over ``nave`` trials."""
        if nave not in self._kernels:
            logger.info(f"    Computing the {self.init} kernel (nave={nave})...")
            self._kernels[nave] = kernel_from_inverse(
                self.inverse, lambda2=self.lambda2, method=self.init, nave=nave
            )
        return self._kernels[nave]

    def picks(self, info: mne.Info) -> list[int]:
        """Return the indices of the operator's channels in the data, checked.

        Parameters
        ----------
        info : instance of Info
            The data's measurement info.

        Returns
        -------
        picks : list of int
            Indices into ``info["ch_names"]``, in the operator's order.
        """
        missing = [name for name in self.ch_names if name not in info["ch_names"]]
        bad = [name for name in self.ch_names if name in info["bads"]]
        if missing or bad:
            raise ValueError(
                f"The operator's channels must be good channels of the data; "
                f"missing: {missing}, marked bad: {bad}. Make the operator for "
                "this recording's channels."
            )
        return [info["ch_names"].index(name) for name in self.ch_names]

    def out_shape(self, n_times: int, pick_ori: str | None) -> tuple:
        """Shape of the solution for ``n_times`` time points."""
        if pick_ori == "vector":
            return (self.n_sources, 3, n_times)
        return (self.n_sources, n_times)

    def apply(
        self,
        data: np.ndarray,
        run: RunSettings,
        *,
        nave: int,
        smoothed: np.ndarray | None = None,
        first_sample: int = 0,
        out: np.ndarray | None = None,
        uncertainty: dict | None = None,
    ) -> np.ndarray:
        """Sensor data (n_channels, n_times) -> sources, reduced by ``run.pick_ori``.

        Each batch of time points goes through every stage before the next,
        so memory holds only the output at full length (and, with map
        smoothing, the network's maps). The init is computed from
        ``smoothed`` (default: ``data`` smoothed by ``run.sigma``); the
        amplitudes are fitted to ``data`` itself. ``first_sample`` is where
        ``data`` starts in the recording (raw chunks), so that the network
        sees the same samples whatever the chunks. ``out``, when given,
        receives the solution in place (e.g. a float32 array). ``uncertainty``,
        when given (a dict), receives the model's calibrated assessment:
        ``"expected_nemd"``, shape (n_times,), and ``"probability"``, shape
        (n_sources, n_times) (:class:`MapUncertainty`).
        """
        _check_finite(data)
        if smoothed is None:
            smoothed = smooth(data, run.sigma)
        n_times, step, device = data.shape[-1], run.batch_size, run.device
        if out is None:
            out = np.empty(self.out_shape(n_times, run.pick_ori))
        kernel = self.kernel(nave)
        network = self.model.inference_network(device, bf16=run.bf16)
        normals = self._normals(run.pick_ori, device)
        calibration = None
        if uncertainty is not None:
            calibration = Calibration.from_model(self.model)
            uncertainty["expected_nemd"] = np.empty(n_times)
            uncertainty["probability"] = np.empty((self.n_sources, n_times), np.float32)
        with torch.inference_mode():
            patterns = None
            if run.pattern_sigma:
                patterns = self._smoothed_patterns(
                    smoothed, kernel, network, run, first_sample
                )
            for start in range(0, n_times, step):
                block = torch.as_tensor(data[:, start : start + step])
                init = kernel.apply(smoothed[:, start : start + step], device=device)
                pattern = None
                if patterns is not None:
                    pattern = patterns[start : start + step].to(device)
                fit = self._fit(block, nave, device)
                if calibration is None:
                    sol = self.model.refine(
                        init,
                        self.grid,
                        fit=fit,
                        network=network,
                        pattern=pattern,
                        blend=run.blend,
                    )
                else:
                    sol, assessed = self._assessed(
                        init, fit, network, pattern, run, calibration, nave
                    )
                    for key, value in assessed.items():
                        uncertainty[key][..., start : start + step] = value
                out[..., start : start + step] = _reduce(sol, run.pick_ori, normals)
        return out

    def _assessed(self, init, fit, network, pattern, run, calibration, nave):
        """Refine with the calibration: the moments and the map's assessment."""
        finished, features = self.finish_and_score(init, fit, network, pattern, nave)
        expected = calibration.expected_nemd(features)
        sol = self.model.scale(finished, init, fit=fit, blend=run.blend)
        probability = credible_probability(
            finished.norm(dim=2),
            init.norm(dim=2),
            calibration.power(expected),
            calibration.weight,
        )
        return sol, {
            "expected_nemd": expected.cpu().numpy(),
            "probability": probability.T.cpu().numpy(),
        }

    def finish_and_score(self, init, fit, network, pattern, nave):
        """Return the finished map and its :func:`reliability_features`.

        ``pattern``: the network's map when already known (``None`` runs
        ``network``, ``None`` too: the model's own network).
        """
        if pattern is None:
            pattern = self.model.pattern(init, self.grid, network=network)
        finished = self.model.finish(pattern.to(init.dtype), init, self.grid, fit)
        features = reliability_features(
            finished, init, *fit[:2], self._positions(init.device), self._rank(nave)
        )
        return finished, features

    def _positions(self, device):
        return torch.as_tensor(self.grid.points, device=device)

    def _rank(self, nave):
        """Rank of the whitened data: the whitener's non-zero rows."""
        return int(np.count_nonzero(np.abs(self.kernel(nave).whitener).sum(axis=1)))

    def _smoothed_patterns(self, smoothed, kernel, network, run, first_sample):
        """Return the network's maps of all time points, magnitudes smoothed.

        The network runs on every :func:`pattern_stride`-th sample of the
        recording (counted from its first sample, ``first_sample`` samples
        before ``smoothed``'s); each of those maps is divided by its largest
        magnitude, so that each counts alike whatever its amplitude, and
        interpolated linearly to the samples in between. The magnitudes are
        then averaged over the Gaussian window, and each point keeps its own
        direction at its own time.
        """
        n_times, step = smoothed.shape[-1], run.batch_size
        stride = pattern_stride(run.pattern_sigma)
        at = np.arange(-first_sample % stride, n_times, stride)
        at = at if len(at) else np.array([0])  # a chunk shorter than the stride
        tiny = torch.finfo(torch.float32).tiny
        shapes = torch.empty((len(at), self.n_sources, 3))  # filled in place
        for start in range(0, len(at), step):
            init = kernel.apply(
                smoothed[:, at[start : start + step]], device=run.device
            )
            pattern = self.model.pattern(init, self.grid, network=network).cpu()
            largest = pattern.norm(dim=2, keepdim=True).amax(dim=1, keepdim=True)
            shapes[start : start + step] = pattern / largest.clamp_min(tiny)
        patterns = interpolate_in_time(shapes, at, n_times)
        length = patterns.norm(dim=2, keepdim=True)
        shape = length / length.amax(dim=1, keepdim=True).clamp_min(tiny)
        shape = torch.as_tensor(smooth(shape.numpy(), run.pattern_sigma, axis=0))
        return patterns.div_(length.clamp_min_(tiny)).mul_(shape)

    def _fit(self, block, nave, device):
        """Whitened data and gain (and, on a cortex, the finish's covariances)."""
        key = (nave, torch.device(device))
        if key not in self._fit_maps:  # once per operator, not per batch
            whitener = self.kernel(nave).whitener
            gain = torch.as_tensor(whitener @ self.gain, device=device)
            whitener = torch.as_tensor(whitener, device=device)
            extra = () if self.grid.exact else (point_covariances(gain),)
            self._fit_maps[key] = (whitener, gain, *extra)
        whitener, *maps = self._fit_maps[key]
        data = whitener @ block.to(device=device, dtype=whitener.dtype)
        return (data.T, *maps)

    def _normals(self, pick_ori, device):
        if pick_ori != "normal":
            return None
        normals = np.concatenate([get_src_nn(s) for s in self.src])
        return torch.as_tensor(normals, device=device)

    def make_stc(
        self, sol: np.ndarray, tmin: float, tstep: float, pick_ori: str | None
    ):
        """Wrap a solution in the class MNE's apply_inverse would return."""
        vertices = [s["vertno"] for s in self.src]
        return make_stc(
            sol.reshape(-1, sol.shape[-1]),  # vectors as MNE's kernel rows: 3 each
            vertices,
            src_type=self.src.kind,
            tmin=tmin,
            tstep=tstep,
            subject=source_space_subject(self.src),
            vector=pick_ori == "vector",
            # x/y/z already; MNE rotates vectors by these (keeps float32 data)
            source_nn=np.tile(np.eye(3, dtype=sol.dtype), (self.n_sources, 1)),
        )


def _reduce(sol, pick_ori, normals):
    """Apply pick_ori to refined vectors (n_times, n_sources, 3), sources first."""
    if pick_ori is None:
        out = torch.linalg.vector_norm(sol, dim=2).T
    elif pick_ori == "normal":
        out = torch.einsum("tnk,nk->nt", sol, normals)
    else:
        out = sol.permute(1, 2, 0)
    return out.cpu().numpy()


def _check_finite(data):
    n_bad = int(np.size(data) - np.isfinite(data).sum())
    if n_bad:
        raise ValueError(
            f"The data contain {n_bad} non-finite value(s) (NaN or inf); "
            "interpolate or drop the affected channels or segments first"
        )


def match_forward(forward, info):
    """Return ``forward`` and ``info`` restricted to their shared channels, in order.

    As :func:`mne.minimum_norm.make_inverse_operator`, the forward's channels
    that the data lack (or mark bad) are left out, and so are the data's
    channels of a type the forward does not model (MEG data with an EEG
    forward); a channel of a modelled type missing from the forward is an error.
    """
    validate_type(forward, mne.Forward, "forward")
    if is_fixed_orient(forward):
        raise ValueError(
            "The forward solution has fixed source orientations; 3D-PIUNet needs "
            "free orientation (three dipole components per source). Use a "
            "forward from mne.make_forward_solution without force_fixed=True."
        )
    fwd_names = [
        forward["info"]["ch_names"][k]
        for k in mne.pick_types(forward["info"], **DATA_TYPES, exclude=())
    ]
    if not fwd_names:
        raise ValueError("The forward solution has no MEG or EEG channels")
    info = _pick_forward_types(info, channel_types(forward["info"]))
    missing = [name for name in info["ch_names"] if name not in fwd_names]
    if missing:
        raise ValueError(
            f"{len(missing)} channel(s) of the data are not in the forward "
            f"solution: {missing}. Compute the forward for these sensors or drop "
            "these channels (e.g. evoked.pick('eeg') for an EEG-only forward)."
        )
    left_out = [name for name in fwd_names if name not in info["ch_names"]]
    if left_out:
        logger.info(
            f"    Leaving out {len(left_out)} forward channel(s) that are absent "
            f"from the data or bad: {_shorten(left_out)}"
        )
    if forward["info"]["ch_names"] != info["ch_names"]:  # picking copies it all
        forward = mne.pick_channels_forward(
            forward, info["ch_names"], ordered=True, verbose=False
        )
    if forward["surf_ori"]:  # rotate the components back to x/y/z
        forward = mne.convert_forward_solution(
            forward, surf_ori=False, force_fixed=False, copy=True, verbose=False
        )
    return forward, info


def _shorten(names, n=10):
    return str(names) if len(names) <= n else f"{names[:n]} and {len(names) - n} more"


def _pick_forward_types(info, fwd_types):
    """Leave out the data's channels of types the forward does not model."""
    types = info.get_channel_types()
    keep = [k for k, kind in enumerate(types) if kind in fwd_types]
    if len(keep) == len(types):
        return info
    dropped = sorted(set(types) - set(fwd_types))
    if not keep:
        raise ValueError(
            f"The data's good channels ({', '.join(dropped)}) are of none of "
            f"the types the forward solution models ({', '.join(fwd_types)}); "
            "compute the forward for these sensors"
        )
    logger.info(
        f"    Ignoring {len(types) - len(keep)} {'/'.join(dropped)} channel(s): "
        "the forward solution does not model them"
    )
    return mne.pick_info(info, keep)


@verbose
@fill_doc
def make_piunet_operator(
    info: mne.Info,
    forward: mne.Forward,
    noise_cov: mne.Covariance | None = None,
    *,
    model: PIUNet | str | None = None,
    lambda2: float = DEFAULT_LAMBDA2,
    verbose: bool | str | int | None = None,
) -> PIUNetOperator:
    """Assemble the 3D-PIUNet operator for a recording setup.

    The counterpart of :func:`mne.minimum_norm.make_inverse_operator`: it
    checks the channels against the forward, computes MNE's free-orientation
    inverse operator for the physics init (the init method the model was
    trained with) and places the model's grid around the sources, once, for
    every data set of these channels.

    Parameters
    ----------
    info : instance of Info
        Measurement info of the data: MEG and/or EEG channels (EEG with an
        average reference projector; other channel types are ignored, bad
        channels left out).
    %(forward)s
    %(noise_cov)s
    %(model)s
    %(lambda2)s
    %(verbose)s

    Returns
    -------
    operator : PIUNetOperator
        The operator.

    See Also
    --------
    apply_piunet, apply_piunet_epochs, apply_piunet_raw
    """
    validate_type(info, mne.Info, "info")
    lambda2 = check_lambda2(lambda2)
    validate_type(noise_cov, (None, mne.Covariance), "noise_cov")
    validate_type(forward, mne.Forward, "forward")
    validate_type(model, (PIUNet, "path-like", None), "model")
    forward, data_info = match_forward(forward, pick_good_channels(info))
    check_channel_count(data_info)
    model = check_model(model, DEFAULT_MODELS[modality(channel_types(data_info))])
    # MNE's check reads inst.info: an average reference projector, no custom ref
    check_reference(SimpleNamespace(info=info), data_info["ch_names"])
    grid = VoxelGrid.from_forward(model.grid, forward)
    _check_sensors(model, forward["info"])
    if lambda2 != model.lambda2:
        logger.info(
            f"    Note: the model was trained with lambda2={model.lambda2:.4g}; "
            f"using lambda2={lambda2:.4g}"
        )
    inverse = make_free_inverse(data_info, forward, noise_cov)
    return PIUNetOperator(
        inverse,
        forward["sol"]["data"],
        forward["src"],
        model,
        grid,
        lambda2=lambda2,
        noise_cov=noise_cov,
    )


def _check_sensors(model, info, min_coverage=0.7):
    """Warn when the data's sensors are not those the model was trained with."""
    head_model = model.info.get("head_model", {})
    # cards without channel types predate MEG support: they were EEG models
    trained_for = modality(head_model.get("ch_types", ["eeg"]))
    data_types = channel_types(info)
    if modality(data_types) != trained_for:
        warn(
            f"The model was trained on {trained_for} data; these data are "
            f"{modality(data_types)} ({', '.join(data_types)}): expect lower "
            "accuracy (the benchmarks page says how much)."
        )
    trained = head_model.get("ch_dirs")
    if not trained or "eeg" not in data_types:  # no electrodes to compare
        return
    electrodes = electrode_directions(info)
    coverage = montage_coverage(electrodes, np.array(trained))
    if coverage < min_coverage:
        warn(
            f"The data's {len(np.atleast_2d(electrodes))} electrodes are near only "
            f"{coverage:.0%} of the {len(trained)} the model was trained with: "
            "expect lower accuracy. Fine-tuning on your own forward "
            "(mne_piunet.training.finetune_model(forward, model)) adapts a model "
            "to your montage."
        )
