"""Smoothing over time: the data before the init, the network's maps after it.

Both windows are Gaussian, given as a full width at half maximum in seconds
and used here as a standard deviation in samples.
"""

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from ._mne_private import validate_type


def smoothing_sigma(smoothing: float | None, sfreq: float, name: str) -> float:
    """Gaussian standard deviation in samples of a FWHM in seconds (None: 0)."""
    if smoothing is None:
        return 0.0
    validate_type(smoothing, "numeric", name)
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"{name} must be None or >= 0 seconds, got {smoothing}")
    return float(smoothing) * sfreq / (2 * np.sqrt(2 * np.log(2)))


def smooth(data: np.ndarray, sigma: float, axis: int = -1) -> np.ndarray:
    """Gaussian smoothing over time (``axis``); ``sigma`` in samples."""
    if not sigma:
        return data
    return gaussian_filter1d(data, sigma, axis=axis, mode="nearest")


def pattern_stride(sigma: float) -> int:
    """Return every how many samples the network runs under map smoothing.

    One sample per standard deviation of the smoothing window (rounded
    down): the window averages the maps in between anyway.
    """
    return max(1, int(sigma))


def interpolate_in_time(values: torch.Tensor, at: np.ndarray, n_times: int):
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


def data_pad(sigma: float) -> int:
    """Return how far (samples) smoothing of ``sigma`` samples looks each way."""
    return int(np.ceil(4 * sigma)) if sigma else 0


def pattern_pad(sigma: float) -> int:
    """Return how far (samples) the smoothed maps look each way.

    The window, and one network sample beyond it to interpolate from.
    """
    return data_pad(sigma) + pattern_stride(sigma) if sigma else 0
