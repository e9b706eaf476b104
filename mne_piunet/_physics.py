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
        Measurement info of the (EEG) channels to use, with their projectors.
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
        Measurement info of the (EEG) channels to use, with their projectors.
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


def prior_weighted_minimum_norm(
    prior: torch.Tensor,
    data: torch.Tensor,
    gain: torch.Tensor,
    *,
    lambda2: float,
    depth: float = FINISH_DEPTH,
) -> torch.Tensor:
    """Minimum-norm moments at the source points under a per-sample prior.

    The source covariance of sample ``k`` is ``prior[k, i] / |g_i|^(2 depth)``
    for the three components of point ``i`` (``g_i`` its whitened gain,
    MNE's depth weighting), normalised so that ``lambda2`` means what it
    means for MNE's inverses: ``x = R G' (G R G' + lambda2 I)^-1 y``. The
    normalisation also makes each sample's result independent of its prior's
    scale.

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

    Returns
    -------
    moments : torch.Tensor, shape (n, n_points, 3)
        The estimate, in the dtype of ``data`` (zero where the prior is).
    """
    n_channels = gain.shape[0]
    gain = gain.to(data.dtype)
    weight = gain.reshape(n_channels, -1, 3).square().sum(dim=(0, 2))
    weight = weight.clamp_min(torch.finfo(gain.dtype).tiny).pow(-depth)
    eye = torch.eye(n_channels, dtype=data.dtype, device=data.device)
    tiny = torch.finfo(data.dtype).tiny
    out = torch.empty(prior.shape + (3,), dtype=data.dtype, device=data.device)
    for start in range(0, len(prior), 4):  # a few samples at a time: memory
        chunk = slice(start, start + 4)
        columns = (prior[chunk].to(data.dtype) * weight).repeat_interleave(3, dim=1)
        weighted = gain[None] * columns[:, None, :]  # (4, n_channels, n_points * 3)
        cov = weighted @ gain.T
        norm = cov.diagonal(dim1=1, dim2=2).sum(dim=1)[:, None, None] / n_channels
        norm = norm.clamp_min(tiny)  # an all-zero prior gives zero
        solved = torch.linalg.solve(cov / norm + lambda2 * eye, data[chunk, :, None])
        moments = (weighted.transpose(1, 2) @ solved) / norm
        out[chunk] = moments.reshape(len(columns), -1, 3)
    return out
