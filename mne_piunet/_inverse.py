"""The operator and apply_piunet and friends: MNE data in, MNE source estimates out.

Data flow, one batch of time points at a time: sensor data -> physics init
(an MNE inverse kernel) -> the model's refine rule (grid, network, back to
the sources) -> ``pick_ori`` -> the source estimate class MNE would return.
"""

from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace

import mne
import numpy as np
import torch
from mne.forward import is_fixed_orient
from mne.utils import ProgressBar, logger, verbose, warn
from scipy.ndimage import gaussian_filter1d

from ._docs import fill_doc
from ._eeg import electrode_directions, montage_coverage, pick_good_eeg
from ._grid import VoxelGrid
from ._mne_private import (
    check_option,
    check_reference,
    check_src_normal,
    ensure_int,
    get_src_nn,
    make_stc,
    source_space_subject,
    validate_type,
)
from ._model import ORIENTATIONS, check_model, get_device, use_bf16
from ._physics import (
    INIT_METHODS,
    check_lambda2,
    kernel_from_inverse,
    make_free_inverse,
)

_PICK_ORI = (None, "normal", "vector")
AMPLITUDES = ("fit", "prior", "init")
RESIDUAL_METHODS = ("init", "network")
_INITS_IN_AM = ("eLORETA", "MNE")  # dSPM and sLORETA are noise-normalised
_DEFAULT_LAMBDA2 = 1.0 / 9.0
# apply_piunet's keyword arguments for data whose time points are independent
# samples (simulations, benchmarks): nothing is smoothed across time.
INDEPENDENT_SAMPLES = MappingProxyType({"smoothing": None, "pattern_smoothing": None})


class PIUNetOperator:
    """Everything that turns EEG data of one recording setup into sources.

    Made by :func:`make_piunet_operator`; pass it to :func:`apply_piunet`,
    :func:`apply_piunet_epochs` or :func:`apply_piunet_raw` in place of the
    forward to reuse the inverse operator for several data sets of the same
    channels, as with :func:`mne.minimum_norm.make_inverse_operator`.

    Attributes
    ----------
    ch_names : list of str
        The EEG channels the operator uses, in order.
    src : instance of SourceSpaces
        The source space of the forward.
    model : PIUNet
        The model.
    grid : VoxelGrid
        The model's grid placed around the sources.
    init : str
        The physics init method.
    lambda2 : float
        The init's regularisation.
    noise_cov : instance of Covariance | None
        The noise covariance given (``None``: ad-hoc).
    """

    def __init__(self, inverse, gain, src, model, grid, *, init, lambda2, noise_cov):
        self.inverse = inverse
        self.gain = gain  # (n_channels, n_sources * 3), x/y/z per source
        self.ch_names = list(inverse["noise_cov"].ch_names)
        self.src = src
        self.model = model
        self.grid = grid
        self.init = init
        self.lambda2 = lambda2
        self.noise_cov = noise_cov
        self._kernels = {}  # nave -> InitKernel
        self._fit_maps = {}  # (nave, device) -> whitener and whitened gain, tensors
        self._gains = {}  # device -> gain tensor (for the residual step)
        self._ranks = {}  # nave -> rank of the whitener (the residual's noise)

    @property
    def n_sources(self):
        """Number of source points."""
        return self.grid.n_points

    def __repr__(self):  # noqa: D105
        cov = "ad-hoc" if self.noise_cov is None else "given"
        return (
            f"<PIUNetOperator | {len(self.ch_names)} EEG channels, "
            f"{self.n_sources} {self.src.kind} sources, init {self.init} "
            f"(lambda2={self.lambda2:.4g}), {cov} noise covariance, "
            f"model {self.model!r}>"
        )

    def kernel(self, nave=1):
        """Return the physics init kernel for data averaged over ``nave`` trials."""
        if nave not in self._kernels:
            logger.info(f"    Computing the {self.init} kernel (nave={nave})...")
            self._kernels[nave] = kernel_from_inverse(
                self.inverse, lambda2=self.lambda2, method=self.init, nave=nave
            )
        return self._kernels[nave]

    def picks(self, info):
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

    def out_shape(self, n_times, pick_ori):
        """Shape of the solution for ``n_times`` time points."""
        if pick_ori == "vector":
            return (self.n_sources, 3, n_times)
        return (self.n_sources, n_times)

    def apply(
        self,
        data,
        run,
        *,
        nave,
        smoothed=None,
        pattern_sigma=0.0,
        first_sample=0,
        out=None,
    ):
        """Sensor data (n_channels, n_times) -> sources, reduced by ``run.pick_ori``.

        Each batch of time points goes through every stage before the next,
        so memory holds only the output at full length (and, with
        ``pattern_sigma``, the network's maps). ``smoothed``, when given, is
        the data the init (the network's input) is computed from; the
        amplitudes are fitted to ``data`` itself. ``pattern_sigma``
        (samples), when not 0, smooths the network's maps over time first
        (:meth:`_smoothed_patterns`); ``first_sample`` is where ``data``
        starts in the recording (raw chunks), so that the network sees the
        same samples whatever the chunks. ``out``, when given, receives the
        solution in place (e.g. a slice of a float32 array).
        """
        _check_finite(data)
        if (
            run.residual
            and run.residual_method == "init"
            and self.init not in _INITS_IN_AM
        ):
            raise ValueError(
                f"residual needs an init in A·m, one of {_INITS_IN_AM}; got "
                f"init={self.init!r} (noise-normalised) with residual={run.residual}"
            )
        smoothed = data if smoothed is None else smoothed
        n_times = data.shape[-1]
        if out is None:
            out = np.empty(self.out_shape(n_times, run.pick_ori))
        kernel, device, step = self.kernel(nave), run.device, run.batch_size
        network = self.model.inference_network(device, bf16=run.bf16)
        normals = self._normals(run.pick_ori, device)
        with torch.inference_mode():
            patterns = None
            if pattern_sigma:
                patterns = self._smoothed_patterns(
                    smoothed, kernel, network, run, pattern_sigma, first_sample
                )
            for start in range(0, n_times, step):
                block = torch.as_tensor(data[:, start : start + step])
                init = kernel.apply(smoothed[:, start : start + step], device=device)
                pattern = None
                if patterns is not None:
                    pattern = patterns[start : start + step].to(device)
                sol = self._refine(block, init, nave, network, run, pattern=pattern)
                if run.residual and run.residual_method == "init":
                    sol = sol + run.residual * self._residual_init(block, sol, kernel)
                elif run.residual:
                    sol = sol + run.residual * self._residual_network(
                        block, sol, kernel, nave, network, run
                    )
                sol = _reduce(sol, run.pick_ori, normals).cpu().numpy()
                out[..., start : start + step] = sol
        return out

    def _smoothed_patterns(self, smoothed, kernel, network, run, sigma, first_sample):
        """Return the network's maps of all time points, magnitudes smoothed.

        The network runs on every :func:`_pattern_stride`-th sample of the
        recording (counted from its first sample, ``first_sample`` samples
        before ``smoothed``'s); each of those maps is divided by its largest
        magnitude, so that each counts alike whatever its amplitude, and
        interpolated linearly to the samples in between. The magnitudes are
        then averaged over a Gaussian window of ``sigma`` samples, and each
        point keeps its own direction at its own time.
        """
        n_times, step = smoothed.shape[-1], run.batch_size
        stride = _pattern_stride(sigma)
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
        patterns = _interpolate_in_time(shapes, at, n_times)
        length = patterns.norm(dim=2, keepdim=True)
        shape = length / length.amax(dim=1, keepdim=True).clamp_min(tiny)
        shape = torch.as_tensor(_smooth(shape.numpy(), sigma, axis=0))
        return patterns.div_(length.clamp_min_(tiny)).mul_(shape)

    def _refine(self, block, init, nave, network, run, *, pattern=None):
        """Refine ``init`` with the run's amplitude rule; ``block`` is its data."""
        fit = lambda2 = None
        if run.amplitude in ("fit", "prior"):
            fit = self._fit(block, nave, run.device)
        if run.amplitude == "prior":
            lambda2 = self.lambda2
        return self.model.refine(
            init,
            self.grid,
            fit=fit,
            network=network,
            lambda2=lambda2,
            orientation=run.orientation,
            pattern=pattern,
            blend=run.blend,
        )

    def _residual_network(self, block, sol, kernel, nave, network, run):
        """Return the network's map of the data ``sol`` leaves unexplained.

        Each time point's map is weighted by the share of its unexplained
        (whitened) power that exceeds the noise's; time points explained to
        within the noise get nothing and cost no network call.
        """
        residual = self._residual(block, sol)
        whitened, _ = self._fit(residual, nave, run.device)
        power = (whitened**2).sum(dim=1).clamp_min(torch.finfo(whitened.dtype).tiny)
        excess = (1 - self._noise_rank(nave) / power).clamp_min(0)
        out = torch.zeros_like(sol)
        active = torch.nonzero(excess).flatten()
        if len(active):
            left = residual[:, active]
            init = kernel.apply(left, device=run.device)
            refined = self._refine(left, init, nave, network, run)
            out[active] = (refined * excess[active].reshape(-1, 1, 1)).to(sol.dtype)
        return out

    def _noise_rank(self, nave):
        """Degrees of freedom of the whitened noise (channels less projectors)."""
        if nave not in self._ranks:
            self._ranks[nave] = int(np.linalg.matrix_rank(self.kernel(nave).whitener))
        return self._ranks[nave]

    def _residual(self, block, sol):
        """Return the sensor data (n_channels, n) that ``sol`` leaves unexplained."""
        device = sol.device
        if device not in self._gains:  # native byte order: FIF arrays are big-endian
            gain = np.asarray(self.gain, dtype=np.float64)
            self._gains[device] = torch.as_tensor(gain, device=device)
        gain = self._gains[device]
        explained = gain @ sol.reshape(len(sol), -1).T.to(gain.dtype)
        return block.to(device=device, dtype=gain.dtype) - explained

    def _residual_init(self, block, sol, kernel):
        """Return the init's estimate of the data that ``sol`` leaves unexplained."""
        residual = self._residual(block, sol)
        return kernel.apply(residual, device=sol.device).to(sol.dtype)

    def _fit(self, block, nave, device):
        """Whitened data and gain: the least-squares amplitude of the rule."""
        key = (nave, torch.device(device))
        if key not in self._fit_maps:  # once per operator, not per batch
            whitener = self.kernel(nave).whitener
            self._fit_maps[key] = (
                torch.as_tensor(whitener, device=device),
                torch.as_tensor(whitener @ self.gain, device=device),
            )
        whitener, gain = self._fit_maps[key]
        data = whitener @ block.to(device=device, dtype=whitener.dtype)
        return data.T, gain

    def _normals(self, pick_ori, device):
        if pick_ori != "normal":
            return None
        normals = np.concatenate([get_src_nn(s) for s in self.src])
        return torch.as_tensor(normals, device=device)

    def make_stc(self, sol, tmin, tstep, pick_ori):
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
        return torch.linalg.vector_norm(sol, dim=2).T
    if pick_ori == "normal":
        return torch.einsum("tnk,nk->nt", sol, normals)
    return sol.permute(1, 2, 0)


def _smoothing_sigma(smoothing, sfreq, name="smoothing"):
    """Gaussian standard deviation in samples of a FWHM in seconds (None: 0)."""
    if smoothing is None:
        return 0.0
    validate_type(smoothing, "numeric", name)
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"{name} must be None or >= 0 seconds, got {smoothing}")
    return float(smoothing) * sfreq / (2 * np.sqrt(2 * np.log(2)))


def _sigmas(smoothing, pattern_smoothing, sfreq):
    """Return the data and the pattern smoothing in samples."""
    return (
        _smoothing_sigma(smoothing, sfreq),
        _smoothing_sigma(pattern_smoothing, sfreq, "pattern_smoothing"),
    )


def _smooth(data, sigma, axis=-1):
    """Gaussian smoothing over time (``axis``); ``sigma`` in samples."""
    if not sigma:
        return data
    return gaussian_filter1d(data, sigma, axis=axis, mode="nearest")


def _pattern_stride(sigma):
    """Return every how many samples the network runs under map smoothing.

    One sample per standard deviation of the smoothing window (rounded
    down): the window averages the maps in between anyway.
    """
    return max(1, int(sigma))


def _interpolate_in_time(values, at, n_times):
    """Interpolate ``values`` (n_at, ...) at sorted samples ``at`` to 0..n_times-1.

    Linear between the samples, constant beyond the first and the last.
    """
    if len(at) == n_times:
        return values
    times = np.arange(n_times)
    left = (np.searchsorted(at, times, side="right") - 1).clip(0, len(at) - 1)
    right = (left + 1).clip(max=len(at) - 1)
    span = np.maximum(at[right] - at[left], 1)
    weight = torch.as_tensor(((times - at[left]) / span).clip(0, 1), dtype=values.dtype)
    weight = weight.reshape(-1, *[1] * (values.dim() - 1))
    out = values[left].mul_(1 - weight)
    return out.add_(values[right].mul_(weight))


def _pad(sigma):
    """Return how far (samples) smoothing of ``sigma`` samples looks each way."""
    return int(np.ceil(4 * sigma)) if sigma else 0


def _pattern_pad(sigma):
    """Return how far (samples) the smoothed maps look each way.

    The window, and one network sample beyond it to interpolate from.
    """
    return _pad(sigma) + _pattern_stride(sigma) if sigma else 0


def _check_finite(data):
    n_bad = int(np.size(data) - np.isfinite(data).sum())
    if n_bad:
        raise ValueError(
            f"The data contain {n_bad} non-finite value(s) (NaN or inf); "
            "interpolate or drop the affected channels or segments first"
        )


def _match_forward(forward, info, bads):
    """Return ``forward`` restricted to the channels of ``info``, in order."""
    validate_type(forward, mne.Forward, "forward")
    if is_fixed_orient(forward):
        raise ValueError(
            "The forward solution has fixed source orientations; 3D-PIUNet needs "
            "free orientation (three dipole components per source). Use a "
            "forward from mne.make_forward_solution without force_fixed=True."
        )
    fwd_eeg = [
        forward["info"]["ch_names"][k]
        for k in mne.pick_types(forward["info"], meg=False, eeg=True, exclude=())
    ]
    if not fwd_eeg:
        raise ValueError("The forward solution has no EEG channels")
    missing = [name for name in info["ch_names"] if name not in fwd_eeg]
    if missing:
        raise ValueError(
            f"{len(missing)} EEG channel(s) of the data are not in the forward "
            f"solution: {missing}. Compute the forward for this montage or drop "
            "these channels."
        )
    absent = [name for name in fwd_eeg if name not in info["ch_names"]]
    bads = [name for name in absent if name in bads]
    absent = [name for name in absent if name not in bads]
    if absent:
        raise ValueError(
            f"{len(absent)} EEG channel(s) of the forward solution are not in the "
            f"data: {absent}. Pick the same channels in both."
        )
    if bads:
        logger.info(f"    Leaving out {len(bads)} bad channel(s): {bads}")
    if forward["info"]["ch_names"] != info["ch_names"]:  # picking copies it all
        forward = mne.pick_channels_forward(
            forward, info["ch_names"], ordered=True, verbose=False
        )
    if forward["surf_ori"]:  # rotate the components back to x/y/z
        forward = mne.convert_forward_solution(
            forward, surf_ori=False, force_fixed=False, copy=True, verbose=False
        )
    return forward


@verbose
@fill_doc
def make_piunet_operator(
    info,
    forward,
    noise_cov=None,
    *,
    model=None,
    lambda2=_DEFAULT_LAMBDA2,
    init="eLORETA",
    verbose=None,
):
    """Assemble the 3D-PIUNet operator for a recording setup.

    The counterpart of :func:`mne.minimum_norm.make_inverse_operator`: it
    checks the channels against the forward, computes MNE's free-orientation
    inverse operator for the physics init and places the model's grid around
    the sources, once, for every data set of these channels.

    Parameters
    ----------
    info : instance of Info
        Measurement info of the data (EEG channels with an average reference
        projector; other channel types are ignored, bad channels left out).
    %(forward)s
    %(noise_cov)s
    %(model)s
    %(lambda2)s
    %(init)s
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
    check_option("init", init, INIT_METHODS)
    lambda2 = check_lambda2(lambda2)
    validate_type(noise_cov, (None, mne.Covariance), "noise_cov")
    model = check_model(model)
    eeg_info = pick_good_eeg(info)
    # MNE's check reads inst.info: an average reference projector, no custom ref
    check_reference(SimpleNamespace(info=info), eeg_info["ch_names"])
    forward = _match_forward(forward, eeg_info, info["bads"])
    grid = VoxelGrid.from_forward(model.grid, forward)
    _check_montage(model, forward["info"])
    if (init, lambda2) != (model.init, model.lambda2):
        logger.info(
            f"    Note: the model was trained with init={model.init}, "
            f"lambda2={model.lambda2:.4g}; using init={init}, lambda2={lambda2:.4g}"
        )
    inverse = make_free_inverse(eeg_info, forward, noise_cov)
    return PIUNetOperator(
        inverse,
        forward["sol"]["data"],
        forward["src"],
        model,
        grid,
        init=init,
        lambda2=lambda2,
        noise_cov=noise_cov,
    )


def _check_montage(model, info, min_coverage=0.7):
    """Warn when the electrodes cover little of the model's training montage."""
    trained = model.info.get("head_model", {}).get("ch_dirs")
    if trained is None:  # a model card without electrode positions
        return
    coverage = montage_coverage(electrode_directions(info), np.array(trained))
    if coverage < min_coverage:
        warn(
            f"The data's {len(info['ch_names'])} electrodes are near only "
            f"{coverage:.0%} of the {len(trained)} the model was trained with: "
            "expect lower accuracy. The 'robust' model (model=\"robust\") was "
            "trained on random electrode subsets; fine-tuning on your own forward "
            "(mne_piunet.training.finetune_model(forward, model)) adapts a model "
            "to your montage."
        )


def _get_operator(inst, forward, model, noise_cov, lambda2, init):
    """Return the operator passed in, or one made for ``inst`` from a forward."""
    if not isinstance(forward, PIUNetOperator):
        return make_piunet_operator(
            inst.info, forward, noise_cov, model=model, lambda2=lambda2, init=init
        )
    op = forward
    conflicts = [
        name
        for name, value, expected in (
            ("model", model, None),
            ("noise_cov", noise_cov, None),
            ("lambda2", lambda2, op.lambda2),
            ("init", init, op.init),
        )
        if value is not expected and value != expected
    ]
    if conflicts:
        raise ValueError(
            f"With an operator, {', '.join(conflicts)} come from the operator "
            f"({op!r}); leave them at their defaults or make a new operator"
        )
    return op


def _check_residual_noise(op, run):
    """Warn when the network's residual step weighs against the ad-hoc noise."""
    if run.residual and run.residual_method == "network" and op.noise_cov is None:
        warn(
            'residual_method="network" weighs what the map leaves unexplained '
            "against the noise covariance, and the ad-hoc one (noise_cov=None) is "
            "not the data's noise: the step adds a second map almost everywhere. "
            "Pass the recording's noise covariance (e.g. mne.compute_covariance "
            "on the baseline)."
        )


def _check_data(inst, op):
    """Return the operator's channels in ``inst``, after MNE's reference check."""
    picks = op.picks(inst.info)
    check_reference(inst, op.ch_names)
    return picks


@dataclass(frozen=True)
class _Run:
    """How the operator runs: output form, amplitude rule, batching, hardware."""

    pick_ori: str | None
    amplitude: str
    orientation: str
    residual: float
    residual_method: str
    blend: float
    batch_size: int
    device: torch.device
    bf16: bool

    def __str__(self):  # for the log: where and in which arithmetic
        return f"{self.device} ({'bfloat16' if self.bf16 else 'float32'})"


def check_share(value, name):
    """Return a share (``residual``, ``blend``) as a float in [0, 1] or raise."""
    validate_type(value, "numeric", name)
    if not 0 <= value <= 1:  # also refuses NaN
        raise ValueError(f"{name} must be a number from 0 to 1, got {value}")
    return float(value)


def _check_run_args(
    *,
    pick_ori,
    amplitude,
    orientation,
    residual,
    residual_method,
    blend,
    batch_size,
    device,
    precision,
    cpu_batch_size=8,
):
    check_option("pick_ori", pick_ori, _PICK_ORI)
    check_option("amplitude", amplitude, AMPLITUDES)
    check_option("orientation", orientation, ORIENTATIONS)
    residual = check_share(residual, "residual")
    blend = check_share(blend, "blend")
    check_option("residual_method", residual_method, RESIDUAL_METHODS)
    device = get_device(device)
    if batch_size is None:
        batch_size = 128 if device.type == "cuda" else cpu_batch_size
    batch_size = ensure_int(batch_size, "batch_size")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    bf16 = use_bf16(precision, device)
    return _Run(
        pick_ori=pick_ori,
        amplitude=amplitude,
        orientation=orientation,
        residual=residual,
        residual_method=residual_method,
        blend=blend,
        batch_size=batch_size,
        device=device,
        bf16=bf16,
    )


@verbose
@fill_doc
def apply_piunet(
    evoked,
    forward,
    model=None,
    noise_cov=None,
    *,
    lambda2=_DEFAULT_LAMBDA2,
    init="eLORETA",
    pick_ori=None,
    amplitude="fit",
    orientation="init",
    residual=0.0,
    residual_method="init",
    blend=0.0,
    smoothing=0.02,
    pattern_smoothing=0.04,
    batch_size=None,
    device=None,
    precision="auto",
    verbose=None,
):
    """Localise an evoked response with 3D-PIUNet.

    A linear inverse (eLORETA by default) of the forward model gives a first
    estimate, which the network refines on a voxel grid, time point by time
    point (3D-PIUNet [1]_).

    Parameters
    ----------
    evoked : instance of Evoked
        EEG data with an average reference projector.
    %(forward_or_operator)s
    %(model)s
    %(noise_cov)s
    %(lambda2)s
    %(init)s
    %(pick_ori)s
    %(amplitude)s
    %(orientation)s
    %(residual)s
    %(residual_method)s
    %(blend)s
    %(smoothing)s
    %(pattern_smoothing)s
    %(batch_size)s
    %(device)s
    %(precision)s
    %(verbose)s

    Returns
    -------
    stc : SourceEstimate | VectorSourceEstimate | VolSourceEstimate | VolVectorSourceEstimate
        The class :func:`mne.minimum_norm.apply_inverse` returns for this
        source space and ``pick_ori``.

    See Also
    --------
    make_piunet_operator, apply_piunet_epochs, apply_piunet_raw,
    mne.minimum_norm.apply_inverse

    References
    ----------
    %(ref_morik)s
    """  # noqa: E501
    validate_type(evoked, mne.Evoked, "evoked")
    run = _check_run_args(
        pick_ori=pick_ori,
        amplitude=amplitude,
        orientation=orientation,
        residual=residual,
        residual_method=residual_method,
        blend=blend,
        batch_size=batch_size,
        device=device,
        precision=precision,
    )
    op = _get_operator(evoked, forward, model, noise_cov, lambda2, init)
    check_src_normal(pick_ori, op.src)
    _check_residual_noise(op, run)
    picks = _check_data(evoked, op)
    logger.info(f'Applying 3D-PIUNet to "{evoked.comment}" on {run}...')
    sigma, pattern_sigma = _sigmas(smoothing, pattern_smoothing, evoked.info["sfreq"])
    data = evoked.data[picks]
    sol = op.apply(
        data,
        run,
        nave=evoked.nave,
        smoothed=_smooth(data, sigma),
        pattern_sigma=pattern_sigma,
    )
    logger.info("[done]")
    return op.make_stc(sol, evoked.times[0], 1.0 / evoked.info["sfreq"], pick_ori)


@verbose
@fill_doc
def apply_piunet_epochs(
    epochs,
    forward,
    model=None,
    noise_cov=None,
    *,
    lambda2=_DEFAULT_LAMBDA2,
    init="eLORETA",
    pick_ori=None,
    amplitude="fit",
    orientation="init",
    residual=0.0,
    residual_method="init",
    blend=0.0,
    smoothing=0.02,
    pattern_smoothing=0.04,
    batch_size=None,
    device=None,
    precision="auto",
    return_generator=False,
    verbose=None,
):
    """Localise every epoch with 3D-PIUNet.

    Parameters
    ----------
    epochs : instance of Epochs
        EEG epochs with an average reference projector.
    %(forward_or_operator)s
    %(model)s
    %(noise_cov)s
    %(lambda2)s
    %(init)s
    %(pick_ori)s
    %(amplitude)s
    %(orientation)s
    %(residual)s
    %(residual_method)s
    %(blend)s
    %(smoothing)s
    %(pattern_smoothing)s
    %(batch_size)s
    %(device)s
    %(precision)s
    return_generator : bool
        Return a generator that yields one source estimate per epoch instead
        of a list (saves memory).
    %(verbose)s

    Returns
    -------
    stcs : list | generator of source estimates
        One source estimate per epoch, of the class
        :func:`mne.minimum_norm.apply_inverse_epochs` returns.

    See Also
    --------
    make_piunet_operator, apply_piunet, mne.minimum_norm.apply_inverse_epochs
    """
    validate_type(epochs, mne.BaseEpochs, "epochs")
    run = _check_run_args(
        pick_ori=pick_ori,
        amplitude=amplitude,
        orientation=orientation,
        residual=residual,
        residual_method=residual_method,
        blend=blend,
        batch_size=batch_size,
        device=device,
        precision=precision,
    )
    op = _get_operator(epochs, forward, model, noise_cov, lambda2, init)
    check_src_normal(pick_ori, op.src)
    _check_residual_noise(op, run)
    picks = _check_data(epochs, op)
    sigmas = _sigmas(smoothing, pattern_smoothing, epochs.info["sfreq"])
    gen = _epochs_gen(epochs, picks, op, run, sigmas)
    return gen if return_generator else list(gen)


def _epochs_gen(epochs, picks, op, run, sigmas):
    tstep = 1.0 / epochs.info["sfreq"]
    sigma, pattern_sigma = sigmas
    for k, data in enumerate(epochs):
        logger.info(f"Processing epoch : {k + 1}")
        data = data[picks]
        smoothed = _smooth(data, sigma)
        sol = op.apply(
            data, run, nave=1, smoothed=smoothed, pattern_sigma=pattern_sigma
        )
        yield op.make_stc(sol, epochs.times[0], tstep, run.pick_ori)


@verbose
@fill_doc
def apply_piunet_raw(
    raw,
    forward,
    model=None,
    noise_cov=None,
    *,
    lambda2=_DEFAULT_LAMBDA2,
    init="eLORETA",
    pick_ori=None,
    amplitude="fit",
    orientation="init",
    residual=0.0,
    residual_method="init",
    blend=0.0,
    smoothing=0.02,
    pattern_smoothing=0.04,
    start=None,
    stop=None,
    buffer_size=1000,
    batch_size=None,
    device=None,
    precision="auto",
    verbose=None,
):
    """Localise continuous data with 3D-PIUNet, a chunk at a time.

    Parameters
    ----------
    raw : instance of Raw
        EEG data with an average reference projector.
    %(forward_or_operator)s
    %(model)s
    %(noise_cov)s
    %(lambda2)s
    %(init)s
    %(pick_ori)s
    %(amplitude)s
    %(orientation)s
    %(residual)s
    %(residual_method)s
    %(blend)s
    %(smoothing)s
    %(pattern_smoothing)s
    start : int | None
        First sample to process (default: the first).
    stop : int | None
        Sample after the last one to process (default: the end).
    buffer_size : int
        Samples processed at once. Unlike in
        :func:`mne.minimum_norm.apply_inverse_raw`, ``None`` is not allowed:
        chunking is what bounds memory here.
    batch_size : int | None
        Time points per network call; ``None`` chooses 4 on CPU (half of
        what the other functions choose, for memory) and 128 on CUDA.
    %(device)s
    %(precision)s
    %(verbose)s

    Returns
    -------
    stc : SourceEstimate | VectorSourceEstimate | VolSourceEstimate | VolVectorSourceEstimate
        The source estimate of the processed samples. Its data are float32
        (the network's precision), which halves the memory of long recordings.

    See Also
    --------
    make_piunet_operator, apply_piunet, mne.minimum_norm.apply_inverse_raw
    """  # noqa: E501
    validate_type(raw, mne.io.BaseRaw, "raw")
    buffer_size = ensure_int(buffer_size, "buffer_size")
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
    # Half the CPU batch of apply_piunet: ~50 MB less peak memory, ~15 % slower.
    run = _check_run_args(
        pick_ori=pick_ori,
        amplitude=amplitude,
        orientation=orientation,
        residual=residual,
        residual_method=residual_method,
        blend=blend,
        batch_size=batch_size,
        device=device,
        precision=precision,
        cpu_batch_size=4,
    )
    start = 0 if start is None else ensure_int(start, "start")
    stop = raw.n_times if stop is None else ensure_int(stop, "stop")
    if not 0 <= start < stop <= raw.n_times:
        raise ValueError(
            f"Need 0 <= start < stop <= {raw.n_times}, got start={start}, stop={stop}"
        )
    op = _get_operator(raw, forward, model, noise_cov, lambda2, init)
    check_src_normal(pick_ori, op.src)
    _check_residual_noise(op, run)
    picks = _check_data(raw, op)
    sol = np.empty(op.out_shape(stop - start, pick_ori), dtype=np.float32)
    chunks = range(start, stop, buffer_size)
    logger.info(f"Applying 3D-PIUNet to {stop - start} samples on {run}...")
    sigma, pattern_sigma = _sigmas(smoothing, pattern_smoothing, raw.info["sfreq"])
    # The maps of a chunk need those of pattern_pad samples around it (the
    # window, and a network sample beyond it to interpolate from), and those
    # need the data of data_pad samples further out.
    pattern_pad, data_pad = _pattern_pad(pattern_sigma), _pad(sigma)
    for first in ProgressBar(chunks, mesg="Raw chunks"):
        last = min(first + buffer_size, stop)
        lo, hi = max(first - pattern_pad, 0), min(last + pattern_pad, raw.n_times)
        lo_data, hi_data = max(lo - data_pad, 0), min(hi + data_pad, raw.n_times)
        padded = raw[picks, lo_data:hi_data][0]
        smoothed = _smooth(padded, sigma)[:, lo - lo_data : hi - lo_data]
        chunk = op.apply(
            padded[:, lo - lo_data : hi - lo_data],
            run,
            nave=1,
            smoothed=smoothed,
            pattern_sigma=pattern_sigma,
            first_sample=lo,
            out=np.empty(op.out_shape(hi - lo, pick_ori), np.float32),
        )
        sol[..., first - start : last - start] = chunk[..., first - lo : last - lo]
    tmin = raw.times[start]  # as apply_inverse_raw: relative to the first sample
    return op.make_stc(sol, tmin, 1.0 / raw.info["sfreq"], pick_ori)
