"""The linear physics init: an MNE inverse kernel for the user's forward model."""

from dataclasses import dataclass, field

import mne
import numpy as np
import torch
from mne.minimum_norm import make_inverse_operator, prepare_inverse_operator
from mne.utils import logger

from ._docs import fill_doc
from ._mne_private import assemble_kernel, check_option, validate_type

INIT_METHODS = ("eLORETA", "sLORETA", "MNE", "dSPM")
FINISH_DEPTH = 0.8  # MNE's default depth weighting
FINISH_SHARPNESS = 16.0  # exponent of the data's standardised fit on the prior
FINISH_SNR_DB = (10.0, 16.0)  # fit SNR over which that exponent ramps in


@dataclass(frozen=True)
class InitKernel:
    """A free-orientation linear inverse kernel.

    Attributes
    ----------
    kernel : ndarray, shape (n_sources * 3, n_channels)
        Maps sensor data to x/y/z dipole moments per source, exactly as
        :func:`mne.minimum_norm.apply_inverse` with ``pick_ori="vector"``.
    ch_names : list of str
        The channels of the kernel's columns, in order.
    method : str
        The inverse method.
    lambda2 : float
        The regularisation.
    whitener : ndarray, shape (n_channels, n_channels)
        The noise whitener with the projectors applied, as the kernel uses it
        (up to a factor: the number of averages scales it).
    """

    kernel: np.ndarray
    whitener: np.ndarray
    ch_names: list
    method: str
    lambda2: float
    _on_device: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_sources(self):
        """Number of source points."""
        return self.kernel.shape[0] // 3

    def apply(self, data, *, device="cpu", dtype=torch.float64):
        """Apply the kernel to sensor data, time points first, with torch.

        Torch (not numpy) computes it: between network calls numpy's BLAS
        threads would spin-wait and fight torch's for the same cores (1.6x
        slower end to end on 2 cores).

        Parameters
        ----------
        data : ndarray | torch.Tensor, shape (n_channels, n_times)
            Sensor data of the kernel's channels, in order.
        device : str | torch.device
            Where to compute.
        dtype : torch.dtype
            Precision of the result.

        Returns
        -------
        init : torch.Tensor, shape (n_times, n_sources, 3)
            Dipole moments per time point.
        """
        key = (torch.device(device), dtype)
        if key not in self._on_device:
            self._on_device[key] = torch.tensor(self.kernel, dtype=dtype, device=device)
        kernel = self._on_device[key]
        data = torch.as_tensor(data).to(device=device, dtype=dtype)
        return (kernel @ data).T.reshape(data.shape[-1], -1, 3)


def check_lambda2(lambda2):
    """Return ``lambda2`` as a float; refuse what is not finite and positive."""
    validate_type(lambda2, "numeric", "lambda2")
    if not (np.isfinite(lambda2) and lambda2 > 0):
        raise ValueError(f"lambda2 must be a finite positive number, got {lambda2}")
    return float(lambda2)


@fill_doc
def make_free_inverse(info, forward, noise_cov=None):
    """MNE's free-orientation inverse operator (the part shared by all kernels).

    Parameters
    ----------
    info : instance of Info
        Measurement info of the MEG/EEG channels to use, with their projectors.
    forward : instance of Forward
        Free-orientation forward solution.
    %(noise_cov)s

    Returns
    -------
    inv : instance of InverseOperator
        The operator, ``loose=1`` (the three components the network expects).
    """
    if noise_cov is None:
        logger.info("    No noise covariance given: using an ad-hoc diagonal one")
        noise_cov = mne.make_ad_hoc_cov(info, verbose=False)
    return make_inverse_operator(info, forward, noise_cov, loose=1.0, verbose=False)


@fill_doc
def kernel_from_inverse(inv, *, lambda2, method, nave=1):
    """Assemble the init kernel of an inverse operator, as apply_inverse does.

    Parameters
    ----------
    inv : instance of InverseOperator
        From :func:`make_free_inverse`.
    %(lambda2)s
    %(init_method)s
    %(nave)s

    Returns
    -------
    kernel : InitKernel
        The kernel.
    """
    check_option("init", method, INIT_METHODS)
    lambda2 = check_lambda2(lambda2)
    inv = prepare_inverse_operator(inv, nave, lambda2, method, verbose=False)
    kernel, noise_norm, _, _ = assemble_kernel(
        inv, None, method, "vector", verbose=False
    )
    if noise_norm is not None:  # dSPM / sLORETA
        kernel = kernel * noise_norm.repeat(3, axis=0)
    ch_names = list(inv["noise_cov"].ch_names)  # column order of the kernel
    whitener = inv["whitener"] @ inv["proj"]
    return InitKernel(kernel, whitener, ch_names, method, lambda2)


@fill_doc
def make_init_kernel(info, forward, noise_cov=None, *, lambda2, method, nave=1):
    """Compute the init kernel through MNE's own inverse code.

    Parameters
    ----------
    info : instance of Info
        Measurement info of the MEG/EEG channels to use, with their projectors.
    forward : instance of Forward
        Free-orientation forward solution.
    %(noise_cov)s
    %(lambda2)s
    %(init_method)s
    %(nave)s

    Returns
    -------
    kernel : InitKernel
        The kernel.
    """
    check_option("init", method, INIT_METHODS)
    lambda2 = check_lambda2(lambda2)
    inv = make_free_inverse(info, forward, noise_cov)
    return kernel_from_inverse(inv, lambda2=lambda2, method=method, nave=nave)


def point_covariances(gain: torch.Tensor) -> torch.Tensor:
    """Each source point's sensor covariance ``g_i g_i'``, packed, float32.

    The covariance of the data that unit variance in each of the point's
    three components makes (their outer products summed), as the upper
    triangle of a channel x channel matrix (:func:`torch.triu_indices`
    order). Made once per gain, it turns the data covariance under any prior
    into one matrix product (:func:`prior_weighted_minimum_norm`).

    Parameters
    ----------
    gain : torch.Tensor, shape (n_channels, n_points * 3)
        Gain, the three components of each point together.

    Returns
    -------
    covariances : torch.Tensor, shape (n_points, n_channels * (n_channels + 1) / 2)
        The packed covariances.
    """
    n_channels = gain.shape[0]
    rows, cols = torch.triu_indices(n_channels, n_channels, device=gain.device)
    points = gain.reshape(n_channels, -1, 3).permute(1, 0, 2)  # (n, channels, 3)
    out = torch.empty((len(points), len(rows)), dtype=torch.float32, device=gain.device)
    for start in range(0, len(points), 1024):  # (1024, channels, channels) at most
        chunk = points[start : start + 1024]
        out[start : start + 1024] = (chunk @ chunk.transpose(1, 2))[:, rows, cols]
    return out


def prior_weighted_minimum_norm(
    prior: torch.Tensor,
    data: torch.Tensor,
    gain: torch.Tensor,
    *,
    lambda2: float,
    depth: float = FINISH_DEPTH,
    sharpness: float = FINISH_SHARPNESS,
    covariances: torch.Tensor | None = None,
) -> torch.Tensor:
    """Minimum-norm moments at the source points under a per-sample prior.

    The source covariance of sample ``k`` is ``prior[k, i] / |g_i|^(2 depth)``
    for the three components of point ``i`` (``g_i`` its whitened gain,
    MNE's depth weighting), normalised so that ``lambda2`` means what it
    means for MNE's inverses: ``x = R G' (G R G' + lambda2 I)^-1 y``. The
    normalisation also makes each sample's result independent of its prior's
    scale.

    With ``sharpness``, the prior is then multiplied by each point's
    standardised fit to the data under it, ``s_i = |g_i' C^-1 y| /
    tr(g_i' C^-1 g_i)^(1/2)`` with ``C = G R G' + lambda2 I`` (sLORETA's
    statistic with the prior's data covariance; for one source without noise
    it peaks at the source, whatever the prior), relative to its largest
    value and raised to a power, and the minimum norm is computed again:
    within the prior's support the data choose the points, which a 7 mm
    prior alone cannot do on a cortex. The power is ``sharpness`` times a
    share from 0 to 1 that grows with the signal-to-noise ratio of the first
    fit (explained over residual power) across ``FINISH_SNR_DB``: noisy data,
    whose statistic follows the noise, keep the prior as it is.

    Parameters
    ----------
    prior : torch.Tensor, shape (n, n_points)
        Non-negative prior per sample and source point (not all zero).
    data : torch.Tensor, shape (n, n_channels)
        Whitened sensor data.
    gain : torch.Tensor, shape (n_channels, n_points * 3)
        Whitened gain, the three components of each point together.
    lambda2 : float
        Regularisation.
    depth : float
        Depth weighting exponent.
    sharpness : float
        Largest exponent of the standardised fit on the prior; ``0`` uses the
        prior as it is.
    covariances : torch.Tensor | None
        :func:`point_covariances` of ``gain``, when the caller keeps them:
        ``G R G'`` is then one product with the prior (about ten times
        faster for a cortex of 20,000 points); ``None`` weighs the gain for
        each sample instead (no memory kept, float32 rounding avoided).

    Returns
    -------
    moments : torch.Tensor, shape (n, n_points, 3)
        The estimate, in the dtype of ``data`` (zero where the prior is).
    """
    n_channels = gain.shape[0]
    gain = gain.to(data.dtype)
    weight = gain.reshape(n_channels, -1, 3).square().sum(dim=(0, 2))
    weight = weight.clamp_min(_tiny(gain)).pow(-depth)
    variances = prior.to(data.dtype) * weight  # (n, n_points)
    back, chol, norm = _back_projection(variances, data, gain, lambda2, covariances)
    moments = back * (variances / norm[:, None])[..., None]
    if not sharpness:
        return moments
    exponent = sharpness * _sharpening_share(moments, data, gain)
    sharp = exponent > 0  # the others keep their moments: no second pass
    if not sharp.any():
        return moments
    back, chol, variances = back[sharp], chol[sharp], variances[sharp]
    fit = _relative(back).square().sum(dim=2)  # relative: no float32 overflow
    fit = _relative(fit / _relative(_trace_terms(chol, gain, covariances)))
    variances = variances * fit.pow(exponent[sharp, None] / 2)  # fit is squared
    back, _, norm = _back_projection(variances, data[sharp], gain, lambda2, covariances)
    moments = moments.clone()
    moments[sharp] = back * (variances / norm[:, None])[..., None]
    return moments


def _sharpening_share(moments, data, gain):
    """From 0 to 1 per sample: how far the data's fit can be trusted.

    The signal-to-noise ratio the minimum norm's fit implies (explained over
    residual power), ramped from 0 at the low to 1 at the high end of
    ``FINISH_SNR_DB``: noisy data keep the prior as it is.
    """
    fitted = moments.reshape(len(moments), -1) @ gain.T
    residual = (data - fitted).square().sum(dim=1)
    explained = data.square().sum(dim=1) - residual
    snr_db = 10 * torch.log10(
        explained.clamp_min(_tiny(data)) / residual.clamp_min(_tiny(data))
    )
    low, high = FINISH_SNR_DB
    return ((snr_db - low) / (high - low)).clamp(0, 1)


def _tiny(tensor):
    return torch.finfo(tensor.dtype).tiny


def _relative(values):
    """Each sample (first axis) divided by its largest absolute value."""
    axes = tuple(range(1, values.ndim))
    return values / values.abs().amax(dim=axes, keepdim=True).clamp_min(_tiny(values))


def _back_projection(variances, data, gain, lambda2, covariances):
    """Return ``G' C^-1 y`` per point, the Cholesky factor of ``C``, the norm.

    Shapes (n, n_points, 3), (n, n_channels, n_channels) and (n,): the
    normalisation of the prior that makes ``lambda2`` MNE's.
    """
    n_channels = gain.shape[0]
    if covariances is None:
        cov = _weighted_covariance(variances, gain)
    else:
        cov = _unpack(variances.to(covariances.dtype) @ covariances, n_channels)
        cov = cov.to(data.dtype)
    norm = cov.diagonal(dim1=1, dim2=2).sum(dim=1) / n_channels
    norm = norm.clamp_min(_tiny(data))  # all-zero prior: zero
    eye = torch.eye(n_channels, dtype=data.dtype, device=data.device)
    chol = torch.linalg.cholesky(cov / norm[:, None, None] + lambda2 * eye)
    solved = torch.cholesky_solve(data[:, :, None], chol)[..., 0]
    back = (solved @ gain).reshape(len(variances), -1, 3)
    return back, chol, norm


def _trace_terms(chol, gain, covariances):
    """``tr(g_i' C^-1 g_i)`` per sample and point (n, n_points)."""
    n_channels = gain.shape[0]
    eye = torch.eye(n_channels, dtype=chol.dtype, device=chol.device)
    inverse = torch.cholesky_solve(eye.expand_as(chol), chol)
    if covariances is not None:  # <C^-1, g_i g_i'>: off-diagonal terms twice
        rows, cols = torch.triu_indices(n_channels, n_channels, device=chol.device)
        packed = inverse[:, rows, cols] * torch.where(rows == cols, 1.0, 2.0).to(
            inverse.dtype
        )
        terms = (packed.to(covariances.dtype) @ covariances.T).to(chol.dtype)
    else:
        terms = torch.cat(
            [
                ((chunk @ gain) * gain).sum(dim=1)
                for chunk in inverse.split(4)  # (4, n_channels, n_points * 3)
            ]
        )
        terms = terms.reshape(len(chol), -1, 3).sum(dim=2)
    return terms.clamp_min(_tiny(terms))


def _weighted_covariance(variances, gain):
    """``G R G'`` of each sample's point variances (n, n_points), a few at a time."""
    out = []
    for chunk in variances.split(4):  # (4, n_channels, n_points * 3) at most
        weighted = gain * chunk.repeat_interleave(3, dim=1)[:, None, :]
        out.append(weighted @ gain.T)
    return torch.cat(out)


def _unpack(packed, n_channels):
    """Symmetric matrices (n, n_channels, n_channels) from upper triangles."""
    rows, cols = torch.triu_indices(n_channels, n_channels, device=packed.device)
    out = packed.new_empty((len(packed), n_channels, n_channels))
    out[:, rows, cols] = packed
    out[:, cols, rows] = packed
    return out
