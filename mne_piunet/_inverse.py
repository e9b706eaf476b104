"""apply_piunet and friends: MNE data in, MNE source estimates out.

Evoked, epochs and raw data share one core: :func:`_prepare` checks the
arguments and makes the operator (:mod:`._operator`),
:meth:`PIUNetOperator.apply` computes the sources.
"""

from collections.abc import Generator

import mne
import numpy as np
import torch
from mne.utils import ProgressBar, logger, verbose, warn

from ._device import bf16_fast, get_device
from ._docs import fill_doc
from ._mne_private import (
    check_option,
    check_reference,
    check_src_normal,
    ensure_int,
    validate_type,
)
from ._model import PIUNet
from ._operator import (
    DEFAULT_LAMBDA2,
    PICK_ORI,
    PIUNetOperator,
    RunSettings,
    make_piunet_operator,
)
from ._time import (
    data_pad,
    pattern_pad,
    smooth,
    smoothing_sigma,
)
from ._uncertainty import Calibration, MapUncertainty

# apply_piunet's keyword arguments for data whose time points are independent
# samples (simulations, benchmarks): nothing is smoothed across time.
INDEPENDENT_SAMPLES = {"smoothing": None, "pattern_smoothing": None}
# what apply_piunet returns, as apply_inverse: the class depends on the
# source space and pick_ori
SourceEstimate = (
    mne.SourceEstimate
    | mne.VectorSourceEstimate
    | mne.VolSourceEstimate
    | mne.VolVectorSourceEstimate
)


def _get_operator(inst, forward, model, noise_cov, lambda2):
    """Return the operator passed in, or one made for ``inst`` from a forward."""
    if not isinstance(forward, PIUNetOperator):
        return make_piunet_operator(
            inst.info, forward, noise_cov, model=model, lambda2=lambda2
        )
    op = forward
    conflicts = [
        name
        for name, value, expected in (
            ("model", model, None),
            ("noise_cov", noise_cov, None),
            ("lambda2", lambda2, op.lambda2),
        )
        if value is not expected and value != expected
    ]
    if conflicts:
        raise ValueError(
            f"With an operator, {', '.join(conflicts)} come from the operator "
            f"({op!r}); leave them at their defaults or make a new operator"
        )
    return op


def check_share(value: float, name: str) -> float:
    """Return a share (``blend``) as a float in [0, 1] or raise."""
    validate_type(value, "numeric", name)
    if not 0 <= value <= 1:  # also refuses NaN
        raise ValueError(f"{name} must be a number from 0 to 1, got {value}")
    return float(value)


def _make_run(
    sfreq, *, pick_ori, blend, smoothing, pattern_smoothing, batch_size, device, cpu
):
    """Check the options every apply function shares; return the run settings."""
    check_option("pick_ori", pick_ori, PICK_ORI)
    device = get_device(device)
    if batch_size is None:
        batch_size = 128 if device.type == "cuda" else cpu
    batch_size = ensure_int(batch_size, "batch_size")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return RunSettings(
        pick_ori=pick_ori,
        blend=check_share(blend, "blend"),
        sigma=smoothing_sigma(smoothing, sfreq, "smoothing"),
        pattern_sigma=smoothing_sigma(pattern_smoothing, sfreq, "pattern_smoothing"),
        batch_size=batch_size,
        device=device,
        bf16=bf16_fast(device),
    )


def _prepare(inst, kind, name, forward, model, noise_cov, lambda2, cpu_batch, **opts):
    """Set up every apply function alike: checks, run settings, operator.

    Returns the operator, the run settings and the operator's channels in
    ``inst``.
    """
    validate_type(inst, kind, name)
    run = _make_run(inst.info["sfreq"], cpu=cpu_batch, **opts)
    op = _get_operator(inst, forward, model, noise_cov, lambda2)
    check_src_normal(run.pick_ori, op.src)
    picks = op.picks(inst.info)
    check_reference(inst, op.ch_names)
    return op, run, picks


def _uncertainty_store(op, return_uncertainty):
    """Return a dict for the operator to fill (or None), warning where unchecked.

    Raises before any data are processed when the model has no calibration.
    """
    validate_type(return_uncertainty, bool, "return_uncertainty")
    if not return_uncertainty:
        return None
    Calibration.from_model(op.model)
    if op.src.kind != "volume":
        warn(
            f"The uncertainty rules were fitted and checked on volume source "
            f"spaces; on this {op.src.kind} source space they are unchecked"
        )
    return {}


def _estimate(op, sol, assessed, tmin, tstep, pick_ori):
    """Return the source estimate, with its uncertainty when it was assessed."""
    stc = op.make_stc(sol, tmin, tstep, pick_ori)
    if assessed is None:
        return stc
    probability = op.make_stc(assessed["probability"], tmin, tstep, None)
    return stc, MapUncertainty(assessed["expected_nemd"], probability)


@verbose
@fill_doc
def apply_piunet(
    evoked: mne.Evoked,
    forward: mne.Forward | PIUNetOperator,
    model: PIUNet | str | None = None,
    noise_cov: mne.Covariance | None = None,
    *,
    lambda2: float = DEFAULT_LAMBDA2,
    pick_ori: str | None = None,
    blend: float = 0.0,
    smoothing: float | None = 0.02,
    pattern_smoothing: float | None = 0.04,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    return_uncertainty: bool = False,
    verbose: bool | str | int | None = None,
) -> SourceEstimate | tuple[SourceEstimate, MapUncertainty]:
    """Localise an evoked response with 3D-PIUNet.

    A linear inverse of the forward model (the one the model was trained
    with, eLORETA for the shipped models) gives a first estimate, which the
    network refines on a voxel grid, time point by time point (3D-PIUNet
    [1]_). Each time point's amplitude is fitted to its own data.

    Parameters
    ----------
    evoked : instance of Evoked
        MEG and/or EEG data (EEG with an average reference projector).
    %(forward_or_operator)s
    %(model)s
    %(noise_cov)s
    %(lambda2)s
    %(pick_ori)s
    %(blend)s
    %(smoothing)s
    %(pattern_smoothing)s
    %(batch_size)s
    %(device)s
    return_uncertainty : bool
        Also return the map's calibrated uncertainty (the model's card must
        hold a calibration, as the shipped EEG default's does).
    %(verbose)s

    Returns
    -------
    stc : SourceEstimate | VectorSourceEstimate | VolSourceEstimate | VolVectorSourceEstimate
        The class :func:`mne.minimum_norm.apply_inverse` returns for this
        source space and ``pick_ori``.
    uncertainty : MapUncertainty
        Only with ``return_uncertainty=True``: each time point's expected
        error and a calibrated probability map with its credible regions.

    See Also
    --------
    make_piunet_operator, apply_piunet_epochs, apply_piunet_raw,
    mne.minimum_norm.apply_inverse

    References
    ----------
    %(ref_morik)s
    """  # noqa: E501
    op, run, picks = _prepare(
        evoked,
        mne.Evoked,
        "evoked",
        forward,
        model,
        noise_cov,
        lambda2,
        8,
        pick_ori=pick_ori,
        blend=blend,
        smoothing=smoothing,
        pattern_smoothing=pattern_smoothing,
        batch_size=batch_size,
        device=device,
    )
    logger.info(f'Applying 3D-PIUNet to "{evoked.comment}" on {run}...')
    uncertainty = _uncertainty_store(op, return_uncertainty)
    sol = op.apply(evoked.data[picks], run, nave=evoked.nave, uncertainty=uncertainty)
    logger.info("[done]")
    tmin, tstep = evoked.times[0], 1.0 / evoked.info["sfreq"]
    return _estimate(op, sol, uncertainty, tmin, tstep, pick_ori)


@verbose
@fill_doc
def apply_piunet_epochs(
    epochs: mne.BaseEpochs,
    forward: mne.Forward | PIUNetOperator,
    model: PIUNet | str | None = None,
    noise_cov: mne.Covariance | None = None,
    *,
    lambda2: float = DEFAULT_LAMBDA2,
    pick_ori: str | None = None,
    blend: float = 0.0,
    smoothing: float | None = 0.02,
    pattern_smoothing: float | None = 0.04,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    return_generator: bool = False,
    return_uncertainty: bool = False,
    verbose: bool | str | int | None = None,
) -> list[SourceEstimate] | list[tuple[SourceEstimate, MapUncertainty]] | Generator:
    """Localise every epoch with 3D-PIUNet.

    Parameters
    ----------
    epochs : instance of Epochs
        MEG and/or EEG epochs (EEG with an average reference projector).
    %(forward_or_operator)s
    %(model)s
    %(noise_cov)s
    %(lambda2)s
    %(pick_ori)s
    %(blend)s
    %(smoothing)s
    %(pattern_smoothing)s
    %(batch_size)s
    %(device)s
    return_generator : bool
        Return a generator that yields one source estimate per epoch instead
        of a list (saves memory).
    return_uncertainty : bool
        Give each epoch's estimate with its calibrated uncertainty, as
        :func:`apply_piunet` does: the list (or generator) then holds
        ``(stc, uncertainty)`` pairs.
    %(verbose)s

    Returns
    -------
    stcs : list | generator of source estimates
        One source estimate per epoch, of the class
        :func:`mne.minimum_norm.apply_inverse_epochs` returns (or one
        ``(stc, MapUncertainty)`` pair per epoch).

    See Also
    --------
    make_piunet_operator, apply_piunet, mne.minimum_norm.apply_inverse_epochs
    """
    op, run, picks = _prepare(
        epochs,
        mne.BaseEpochs,
        "epochs",
        forward,
        model,
        noise_cov,
        lambda2,
        8,
        pick_ori=pick_ori,
        blend=blend,
        smoothing=smoothing,
        pattern_smoothing=pattern_smoothing,
        batch_size=batch_size,
        device=device,
    )
    _uncertainty_store(op, return_uncertainty)  # checks and warns once
    gen = _epochs_gen(epochs, picks, op, run, return_uncertainty)
    return gen if return_generator else list(gen)


def _epochs_gen(epochs, picks, op, run, return_uncertainty):
    tmin, tstep = epochs.times[0], 1.0 / epochs.info["sfreq"]
    n_epochs = len(epochs.events)  # the most: epochs may still be dropped
    bar = ProgressBar(n_epochs, mesg="Epochs", max_total_width=60)
    for k, data in enumerate(epochs):
        logger.debug(f"Processing epoch : {k + 1}")
        uncertainty = {} if return_uncertainty else None
        sol = op.apply(data[picks], run, nave=1, uncertainty=uncertainty)
        bar.update(k + 1)
        yield _estimate(op, sol, uncertainty, tmin, tstep, run.pick_ori)


@verbose
@fill_doc
def apply_piunet_raw(
    raw: mne.io.BaseRaw,
    forward: mne.Forward | PIUNetOperator,
    model: PIUNet | str | None = None,
    noise_cov: mne.Covariance | None = None,
    *,
    lambda2: float = DEFAULT_LAMBDA2,
    pick_ori: str | None = None,
    blend: float = 0.0,
    smoothing: float | None = 0.02,
    pattern_smoothing: float | None = 0.04,
    start: int | None = None,
    stop: int | None = None,
    buffer_size: int = 1000,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    return_generator: bool = False,
    return_uncertainty: bool = False,
    verbose: bool | str | int | None = None,
) -> SourceEstimate | tuple[SourceEstimate, MapUncertainty] | Generator:
    """Localise continuous data with 3D-PIUNet, a chunk at a time.

    Parameters
    ----------
    raw : instance of Raw
        MEG and/or EEG data (EEG with an average reference projector).
    %(forward_or_operator)s
    %(model)s
    %(noise_cov)s
    %(lambda2)s
    %(pick_ori)s
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
    return_generator : bool
        Return a generator that yields one source estimate per
        ``buffer_size`` samples instead of one for the whole recording:
        memory then holds one chunk's estimate, and the estimates can be
        reduced as they come (for example to labels with
        :func:`mne.extract_label_time_course`, which takes a generator).
    return_uncertainty : bool
        Also return the calibrated uncertainty of every sample, as
        :func:`apply_piunet` does (with a generator: one ``(stc,
        uncertainty)`` pair per chunk). Its probability map is float32 too.
    %(verbose)s

    Returns
    -------
    stc : SourceEstimate | VectorSourceEstimate | VolSourceEstimate | VolVectorSourceEstimate | generator
        The source estimate of the processed samples (or a generator of
        them, one per chunk, with ``return_generator=True``). Its data are
        float32 (the network's precision), which halves the memory of long
        recordings.
    uncertainty : MapUncertainty
        Only with ``return_uncertainty=True``.

    See Also
    --------
    make_piunet_operator, apply_piunet, mne.minimum_norm.apply_inverse_raw
    """  # noqa: E501
    validate_type(raw, mne.io.BaseRaw, "raw")
    buffer_size = ensure_int(buffer_size, "buffer_size")
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
    start = 0 if start is None else ensure_int(start, "start")
    stop = raw.n_times if stop is None else ensure_int(stop, "stop")
    if not 0 <= start < stop <= raw.n_times:
        raise ValueError(
            f"Need 0 <= start < stop <= {raw.n_times}, got start={start}, stop={stop}"
        )
    # Half the CPU batch of apply_piunet: less peak memory for long recordings.
    op, run, picks = _prepare(
        raw,
        mne.io.BaseRaw,
        "raw",
        forward,
        model,
        noise_cov,
        lambda2,
        4,
        pick_ori=pick_ori,
        blend=blend,
        smoothing=smoothing,
        pattern_smoothing=pattern_smoothing,
        batch_size=batch_size,
        device=device,
    )
    logger.info(f"Applying 3D-PIUNet to {stop - start} samples on {run}...")
    assess = _uncertainty_store(op, return_uncertainty) is not None
    chunks = _raw_chunks(raw, picks, op, run, start, stop, buffer_size, assess)
    tstep = 1.0 / raw.info["sfreq"]
    if return_generator:
        return (
            _estimate(op, chunk, assessed, raw.times[first], tstep, pick_ori)
            for first, chunk, assessed in chunks
        )
    sol = np.empty(op.out_shape(stop - start, pick_ori), dtype=np.float32)
    whole = _raw_uncertainty_store(op, stop - start) if assess else None
    for first, chunk, assessed in chunks:
        where = slice(first - start, first - start + chunk.shape[-1])
        sol[..., where] = chunk
        for key, value in (assessed or {}).items():
            whole[key][..., where] = value
    tmin = raw.times[start]  # as apply_inverse_raw: relative to the first sample
    return _estimate(op, sol, whole, tmin, tstep, pick_ori)


def _raw_uncertainty_store(op, n_times):
    """Arrays for a recording's assessment, float32 as its estimate."""
    return {
        "expected_nemd": np.empty(n_times),
        "probability": np.empty((op.n_sources, n_times), np.float32),
    }


def _raw_chunks(raw, picks, op, run, start, stop, buffer_size, assess):
    """Yield (first sample, float32 solution, assessment) of each chunk.

    The assessment (see :meth:`PIUNetOperator.apply`) is None unless
    ``assess``.

    The maps of a chunk need those of map_pad samples around it (the window,
    and a network sample beyond it to interpolate from), and those need the
    data of extra samples further out.
    """
    map_pad, extra = pattern_pad(run.pattern_sigma), data_pad(run.sigma)
    for first in ProgressBar(range(start, stop, buffer_size), mesg="Raw chunks"):
        last = min(first + buffer_size, stop)
        lo, hi = max(first - map_pad, 0), min(last + map_pad, raw.n_times)
        lo_data, hi_data = max(lo - extra, 0), min(hi + extra, raw.n_times)
        padded = raw[picks, lo_data:hi_data][0]
        inner = slice(lo - lo_data, hi - lo_data)
        uncertainty = {} if assess else None
        chunk = op.apply(
            padded[:, inner],
            run,
            nave=1,
            smoothed=smooth(padded, run.sigma)[:, inner],
            first_sample=lo,
            out=np.empty(op.out_shape(hi - lo, run.pick_ori), np.float32),
            uncertainty=uncertainty,
        )
        keep = slice(first - lo, last - lo)
        if assess:
            uncertainty = {key: value[..., keep] for key, value in uncertainty.items()}
        yield first, chunk[..., keep], uncertainty
