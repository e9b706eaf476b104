"""apply_piunet and friends: MNE data in, MNE source estimates out."""

from dataclasses import dataclass

import mne
import numpy as np
from mne.forward import is_fixed_orient
from mne.minimum_norm.inverse import _check_reference
from mne.source_estimate import _make_stc
from mne.source_space._source_space import _get_src_nn
from mne.utils import (
    ProgressBar,
    _check_option,
    _check_src_normal,
    _ensure_int,
    _validate_type,
    logger,
    verbose,
)

from ._grid import VoxelGrid
from ._model import _check_model, _get_device, _prepare_network, _run_network
from ._physics import INIT_METHODS, InitKernel, make_init_kernel

_PICK_ORI = (None, "normal", "vector")


@dataclass
class _Operator:
    """Everything that turns sensor data of one recording into sources."""

    kernel: InitKernel
    grid: VoxelGrid
    model: object
    src: mne.SourceSpaces
    pick_ori: str | None
    normals: np.ndarray | None  # (n_sources, 3), only for pick_ori="normal"

    def picks(self, ch_names):
        """Return the indices of the kernel's channels in ``ch_names``."""
        return [ch_names.index(name) for name in self.kernel.ch_names]

    def out_shape(self, n_times):
        """Shape of the solution for ``n_times`` time points."""
        n_src = len(self.kernel.kernel) // 3
        return (n_src, 3, n_times) if self.pick_ori == "vector" else (n_src, n_times)

    def apply(self, data, *, batch_size, device, out=None):
        """Sensor data (n_channels, n_times) -> sources, reduced by pick_ori.

        Each batch of time points goes through every stage (init, grid,
        network, back to sources, pick_ori) before the next, so memory holds
        only the output at full length. ``out``, when given, receives the
        solution in place (e.g. a slice of a longer float32 array).
        """
        _check_finite(data)
        n_times = data.shape[-1]
        if out is None:
            out = np.zeros(self.out_shape(n_times))
        else:
            out[...] = 0  # time points whose init is all zero stay zero
        network = _prepare_network(self.model.network, device)
        for start in range(0, n_times, batch_size):
            block = slice(start, min(start + batch_size, n_times))
            init = self.kernel.apply(data[:, block])
            # Normalise each time point by its largest moment; all-zero ones stay 0.
            scale = np.abs(init).max(axis=(0, 1))
            active = np.flatnonzero(scale > 0)
            if not len(active):
                continue
            volume = self.grid.to_volume(init[:, :, active] / scale[active])
            volume = _run_network(network, volume, device=device)
            sol = self.grid.to_sources(volume) * scale[active]
            out[..., start + active] = self._reduce(sol)
        return out

    def _reduce(self, sol):
        """Apply pick_ori to vectors (n_sources, 3, n_times)."""
        if self.pick_ori is None:
            return np.linalg.norm(sol, axis=1)
        if self.pick_ori == "normal":
            return np.einsum("nkt,nk->nt", sol, self.normals)
        return sol

    def make_stc(self, sol, tmin, tstep):
        """Wrap the solution in the class MNE's apply_inverse would return."""
        vertices = [s["vertno"] for s in self.src]
        n_src = sum(len(v) for v in vertices)
        return _make_stc(
            sol.reshape(-1, sol.shape[-1]),  # vectors as MNE's kernel rows: 3 each
            vertices,
            src_type=self.src.kind,
            tmin=tmin,
            tstep=tstep,
            subject=self.src._subject,
            vector=self.pick_ori == "vector",
            # x/y/z already; MNE rotates vectors by these (keeps float32 data)
            source_nn=np.tile(np.eye(3, dtype=sol.dtype), (n_src, 1)),
        )


def _check_finite(data):
    n_bad = int(np.size(data) - np.isfinite(data).sum())
    if n_bad:
        raise ValueError(
            f"The data contain {n_bad} non-finite value(s) (NaN or inf); "
            "interpolate or drop the affected channels or segments first"
        )


def _pick_eeg(info):
    """Restrict ``info`` to its good EEG channels (the method is EEG-only)."""
    eeg = mne.pick_types(info, meg=False, eeg=True, exclude="bads")
    if len(eeg) == 0:
        raise ValueError(
            "No good EEG channels found in the data; 3D-PIUNet is an EEG method "
            f"(channel types present: {sorted(set(info.get_channel_types()))})"
        )
    n_meg = len(mne.pick_types(info, meg=True, exclude=()))
    if n_meg:
        logger.info(f"    Ignoring {n_meg} MEG channel(s): the method is EEG-only")
    return mne.pick_info(info, eeg)


def _match_forward(forward, info, bads):
    """Return ``forward`` restricted to the channels of ``info``, in order."""
    _validate_type(forward, mne.Forward, "forward")
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


def _prepare_operator(inst, forward, model, noise_cov, lambda2, init, pick_ori, nave):
    """Check all inputs and build the operator for one recording."""
    _check_option("init", init, INIT_METHODS)
    _check_option("pick_ori", pick_ori, _PICK_ORI)
    _validate_type(lambda2, "numeric", "lambda2")
    _validate_type(noise_cov, (None, mne.Covariance), "noise_cov")
    model = _check_model(model)
    info = _pick_eeg(inst.info)
    _check_reference(inst, info["ch_names"])
    forward = _match_forward(forward, info, inst.info["bads"])
    _check_src_normal(pick_ori, forward["src"])
    grid = VoxelGrid.from_forward(model.grid, forward)
    if (init, float(lambda2)) != (model.init, model.lambda2):
        logger.info(
            f"    Note: the model was trained with init={model.init}, "
            f"lambda2={model.lambda2:.4g}; using init={init}, lambda2={lambda2:.4g}"
        )
    logger.info(f"    Computing the {init} kernel (lambda2={lambda2:.4g})...")
    kernel = make_init_kernel(
        info, forward, noise_cov, lambda2=lambda2, method=init, nave=nave
    )
    normals = None
    if pick_ori == "normal":
        normals = np.concatenate([_get_src_nn(s) for s in forward["src"]])
    return _Operator(kernel, grid, model, forward["src"], pick_ori, normals)


def _check_run_args(batch_size, device, *, cpu_batch_size=8):
    device = _get_device(device)
    if batch_size is None:
        batch_size = 128 if device.type == "cuda" else cpu_batch_size
    batch_size = _ensure_int(batch_size, "batch_size")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return batch_size, device


_DOC_COMMON = """forward : instance of Forward
        EEG forward solution with free source orientation, computed for the
        channels of the data (bad channels may be absent).
    model : PIUNet | path-like | str | None
        The trained model, its file, or the name of a registered pretrained
        model (:func:`mne_piunet.datasets.fetch_model`); ``None`` uses the
        ``"default"`` model that ships with the package (trained on the
        fsaverage template, 7 mm volume grid, 61-channel easycap-M10 montage,
        eLORETA init).
    noise_cov : instance of Covariance | None
        Noise covariance of the physics init; ``None`` uses an ad-hoc diagonal
        covariance (:func:`mne.make_ad_hoc_cov`).
    lambda2 : float
        Regularisation of the physics init, as in
        :func:`mne.minimum_norm.apply_inverse`.
    init : "eLORETA" | "sLORETA" | "MNE" | "dSPM"
        The linear inverse used as physics init (the paper uses eLORETA).
    pick_ori : None | "normal" | "vector"
        ``None``: the norm of the refined dipole moment per source;
        ``"normal"``: its component along the cortical normal (surface source
        spaces only); ``"vector"``: all three components.
    batch_size : int | None
        Time points per network call; ``None`` chooses 8 on CPU and 128 on
        CUDA.
    device : str | torch.device | None
        Where the network runs; ``None`` uses CUDA when available."""


def _fill(func):
    func.__doc__ = func.__doc__.replace("%(piunet_common)s", _DOC_COMMON)
    return func


@verbose
@_fill
def apply_piunet(
    evoked,
    forward,
    model=None,
    noise_cov=None,
    *,
    lambda2=1.0 / 9.0,
    init="eLORETA",
    pick_ori=None,
    batch_size=None,
    device=None,
    verbose=None,
):
    """Localise an evoked response with 3D-PIUNet.

    A linear inverse (eLORETA by default) of the forward model gives a first
    estimate, which the network refines on a voxel grid, time point by time
    point.

    Parameters
    ----------
    evoked : instance of Evoked
        EEG data with an average reference projector.
    %(piunet_common)s
    %(verbose)s

    Returns
    -------
    stc : SourceEstimate | VectorSourceEstimate | VolSourceEstimate | VolVectorSourceEstimate
        The class :func:`mne.minimum_norm.apply_inverse` returns for this
        source space and ``pick_ori``.
    """  # noqa: E501
    _validate_type(evoked, mne.Evoked, "evoked")
    op = _prepare_operator(
        evoked, forward, model, noise_cov, lambda2, init, pick_ori, evoked.nave
    )
    batch_size, device = _check_run_args(batch_size, device)
    logger.info(f'Applying 3D-PIUNet to "{evoked.comment}" on {device}...')
    data = evoked.data[op.picks(evoked.ch_names)]
    sol = op.apply(data, batch_size=batch_size, device=device)
    logger.info("[done]")
    return op.make_stc(sol, evoked.times[0], 1.0 / evoked.info["sfreq"])


@verbose
@_fill
def apply_piunet_epochs(
    epochs,
    forward,
    model=None,
    noise_cov=None,
    *,
    lambda2=1.0 / 9.0,
    init="eLORETA",
    pick_ori=None,
    batch_size=None,
    device=None,
    return_generator=False,
    verbose=None,
):
    """Localise every epoch with 3D-PIUNet.

    Parameters
    ----------
    epochs : instance of Epochs
        EEG epochs with an average reference projector.
    %(piunet_common)s
    return_generator : bool
        Return a generator that yields one source estimate per epoch instead
        of a list (saves memory).
    %(verbose)s

    Returns
    -------
    stcs : list | generator of source estimates
        One source estimate per epoch, of the class
        :func:`mne.minimum_norm.apply_inverse_epochs` returns.
    """
    _validate_type(epochs, mne.BaseEpochs, "epochs")
    op = _prepare_operator(
        epochs, forward, model, noise_cov, lambda2, init, pick_ori, 1
    )
    batch_size, device = _check_run_args(batch_size, device)
    gen = _epochs_gen(epochs, op, batch_size, device)
    return gen if return_generator else list(gen)


def _epochs_gen(epochs, op, batch_size, device):
    picks = op.picks(epochs.ch_names)
    tstep = 1.0 / epochs.info["sfreq"]
    for k, data in enumerate(epochs):
        logger.info(f"Processing epoch : {k + 1}")
        sol = op.apply(data[picks], batch_size=batch_size, device=device)
        yield op.make_stc(sol, epochs.times[0], tstep)


@verbose
@_fill
def apply_piunet_raw(
    raw,
    forward,
    model=None,
    noise_cov=None,
    *,
    lambda2=1.0 / 9.0,
    init="eLORETA",
    pick_ori=None,
    start=None,
    stop=None,
    buffer_size=1000,
    batch_size=None,
    device=None,
    verbose=None,
):
    """Localise continuous data with 3D-PIUNet, a chunk at a time.

    Parameters
    ----------
    raw : instance of Raw
        EEG data with an average reference projector.
    %(piunet_common)s
    start : int | None
        First sample to process (default: the first).
    stop : int | None
        Sample after the last one to process (default: the end).
    buffer_size : int
        Samples processed at once. Unlike in
        :func:`mne.minimum_norm.apply_inverse_raw`, ``None`` is not allowed:
        chunking is what bounds memory here. (``batch_size=None`` chooses 4
        on CPU here, half of what the other functions choose, for memory.)
    %(verbose)s

    Returns
    -------
    stc : SourceEstimate | VectorSourceEstimate | VolSourceEstimate | VolVectorSourceEstimate
        The source estimate of the processed samples. Its data are float32
        (the network's precision), which halves the memory of long recordings.
    """  # noqa: E501
    _validate_type(raw, mne.io.BaseRaw, "raw")
    buffer_size = _ensure_int(buffer_size, "buffer_size")
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
    op = _prepare_operator(raw, forward, model, noise_cov, lambda2, init, pick_ori, 1)
    # Half the CPU batch of apply_piunet: ~50 MB less peak memory, ~15 % slower network.
    batch_size, device = _check_run_args(batch_size, device, cpu_batch_size=4)
    start = 0 if start is None else _ensure_int(start, "start")
    stop = raw.n_times if stop is None else _ensure_int(stop, "stop")
    if not 0 <= start < stop <= raw.n_times:
        raise ValueError(
            f"Need 0 <= start < stop <= {raw.n_times}, got start={start}, stop={stop}"
        )
    picks = op.picks(raw.ch_names)
    sol = np.empty(op.out_shape(stop - start), dtype=np.float32)
    chunks = range(start, stop, buffer_size)
    logger.info(f"Applying 3D-PIUNet to {stop - start} samples on {device}...")
    for first in ProgressBar(chunks, mesg="Raw chunks"):
        last = min(first + buffer_size, stop)
        op.apply(
            raw[picks, first:last][0],
            batch_size=batch_size,
            device=device,
            out=sol[..., first - start : last - start],
        )
    tmin = raw.times[start]  # as apply_inverse_raw: relative to the first sample
    return op.make_stc(sol, tmin, 1.0 / raw.info["sfreq"])
