"""Accuracy metrics for source estimates: EMD, localisation error, and more.

Every function takes either source estimates (``mne.SourceEstimate`` and
friends, with the source space to get positions from) or plain arrays: an
amplitude map per source point (vectors are reduced to their norm) and the
points' positions in metres. Distances are returned in millimetres.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.stats import rankdata

from ._mne_private import BaseSourceEstimate


def amplitude(values: np.ndarray) -> np.ndarray:
    """Reduce a source map to one non-negative amplitude per point.

    Parameters
    ----------
    values : ndarray, shape (n_points,) | (n_points, 3) | SourceEstimate
        Values per point, or a source estimate (first time point).

    Returns
    -------
    amp : ndarray, shape (n_points,)
        The absolute value, or the vector norm.
    """
    values = _as_array(values)
    if values.ndim == 2:
        return np.linalg.norm(values, axis=1)
    return np.abs(values)


def _as_array(values):
    """Source estimates give their first time point; arrays pass through."""
    if isinstance(values, BaseSourceEstimate):
        values = values.data[..., 0]
    return np.asarray(values, dtype=float)


def _pool(positions, mass, resolution):
    """Sum the mass into cubes of side ``resolution``, placed at their centroids."""
    keys = np.floor(positions / resolution).astype(np.int64)
    _, cell, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    cell = cell.ravel()
    centers = np.zeros((len(counts), 3))
    np.add.at(centers, cell, positions)
    centers /= counts[:, None]
    pooled = np.zeros(len(counts))
    np.add.at(pooled, cell, mass)
    return centers, pooled, cell


def emd(
    true: np.ndarray,
    estimate: np.ndarray,
    positions: np.ndarray,
    *,
    resolution: float | None = None,
) -> float:
    """Earth mover's distance between two normalised amplitude maps, in mm.

    Each map's amplitude (:func:`amplitude`) is divided by its sum and the
    exact optimal transport cost between the two distributions over the
    source positions is computed with POT (``ot.emd2``), as in the paper.

    Parameters
    ----------
    true, estimate : ndarray | SourceEstimate
        The two maps (see :func:`amplitude`).
    positions : ndarray, shape (n_points, 3)
        Source positions in metres.
    resolution : float | None
        If given (metres), the mass is first pooled into cubes of this side
        (placed at the centroid of their points) so that large source spaces
        stay fast; this changes the result by at most ``sqrt(3) *
        resolution`` (both maps move their mass at most that far in all).
        ``None`` computes the exact value over all points.

    Returns
    -------
    distance : float
        The EMD in millimetres.
    """
    try:
        import ot
    except ImportError:
        raise ImportError(
            "emd needs the POT package (optimal transport): pip install pot "
            "or pip install 'mne-piunet[metrics]'"
        ) from None
    a, b = _normalise(amplitude(true)), _normalise(amplitude(estimate))
    positions = np.asarray(positions, dtype=float)
    if resolution is not None:
        centers, a, cell = _pool(positions, a, resolution)
        b = np.bincount(cell, weights=b, minlength=len(centers))
        positions = centers
    keep_a, keep_b = a > 0, b > 0  # points without mass change nothing
    cost = np.linalg.norm(positions[keep_a][:, None] - positions[keep_b][None], axis=-1)
    return 1e3 * float(ot.emd2(a[keep_a], b[keep_b], cost, numItermax=10_000_000))


def normalized_emd(
    true: np.ndarray,
    estimate: np.ndarray,
    positions: np.ndarray,
    *,
    resolution: float | None = None,
) -> float:
    """EMD to the truth divided by the EMD of a uniform map to the truth.

    0 is perfect; 1 is no better than a flat map (the paper's measure).

    Parameters
    ----------
    true, estimate : ndarray | SourceEstimate
        The two maps (see :func:`amplitude`).
    positions : ndarray, shape (n_points, 3)
        Source positions in metres.
    resolution : float | None
        See :func:`emd`.

    Returns
    -------
    value : float
        The normalised EMD.
    """
    flat = np.ones(len(positions))
    ref = emd(true, flat, positions, resolution=resolution)
    return emd(true, estimate, positions, resolution=resolution) / ref


def _normalise(amp):
    total = amp.sum()
    if not total > 0:
        raise ValueError("A source map is all zero: its EMD is undefined")
    return amp / total


def find_peaks(
    estimate: np.ndarray,
    positions: np.ndarray,
    n_peaks: int,
    *,
    min_distance: float = 0.02,
    threshold: float = 0.1,
) -> np.ndarray:
    """Find up to ``n_peaks`` local maxima of an amplitude map.

    Points are visited by decreasing amplitude; a point becomes a peak when
    no earlier peak lies within ``min_distance`` and its amplitude is at
    least ``threshold`` times the largest one.

    Parameters
    ----------
    estimate : ndarray | SourceEstimate
        The map (see :func:`amplitude`).
    positions : ndarray, shape (n_points, 3)
        Source positions in metres.
    n_peaks : int
        Most peaks to return.
    min_distance : float
        Least distance between peaks in metres.
    threshold : float
        Least relative amplitude of a peak.

    Returns
    -------
    peaks : ndarray of int
        Indices of the peaks, strongest first.
    """
    amp = amplitude(estimate)
    peaks = []
    for idx in np.argsort(amp)[::-1]:
        if len(peaks) == n_peaks or amp[idx] < threshold * amp.max():
            break
        if all(
            np.linalg.norm(positions[idx] - positions[p]) >= min_distance for p in peaks
        ):
            peaks.append(idx)
    return np.array(peaks, dtype=int)


def localization_error(
    true_centers: np.ndarray,
    estimate: np.ndarray,
    positions: np.ndarray,
    *,
    min_distance: float = 0.02,
    threshold: float = 0.1,
) -> np.ndarray:
    """Localisation error in mm between true sources and estimated peaks.

    As many peaks as true sources are sought with :func:`find_peaks`. True
    sources and peaks are paired so that the sum of distances is smallest
    (Hungarian algorithm). The error is the mean distance over the pairs.
    True sources left without a peak are *missed*; they are counted and do
    not enter the mean (with no peak at all the error is NaN). Spurious
    peaks cannot occur, since at most one peak per true source is sought.

    Parameters
    ----------
    true_centers : ndarray, shape (n_sources, 3) | (n_sources,) of int
        True source positions in metres, or their indices into
        ``positions``.
    estimate : ndarray | SourceEstimate
        The estimated map (see :func:`amplitude`).
    positions : ndarray, shape (n_points, 3)
        Source positions in metres.
    min_distance, threshold : float
        Passed to :func:`find_peaks`.

    Returns
    -------
    error : float
        Mean distance in mm over the matched pairs.
    n_missed : int
        True sources without a peak.
    """
    positions = np.asarray(positions, dtype=float)
    centers = np.asarray(true_centers)
    if centers.ndim == 1:
        centers = positions[centers.astype(int)]
    peaks = find_peaks(
        estimate,
        positions,
        len(centers),
        min_distance=min_distance,
        threshold=threshold,
    )
    if len(peaks) == 0:
        return np.nan, len(centers)
    dist = np.linalg.norm(centers[:, None] - positions[peaks][None], axis=-1)
    rows, cols = linear_sum_assignment(dist)
    return 1e3 * float(dist[rows, cols].mean()), len(centers) - len(rows)


def spatial_dispersion(
    true_centers: np.ndarray, estimate: np.ndarray, positions: np.ndarray
) -> float:
    """Spatial dispersion in mm: how far the estimate's energy spreads.

    ``sqrt(sum_i a_i^2 d_i^2 / sum_i a_i^2)`` with ``a`` the estimated
    amplitude and ``d_i`` the distance of point ``i`` to the nearest true
    source (Molins et al., 2008).

    Parameters
    ----------
    true_centers : ndarray, shape (n_sources, 3) | (n_sources,) of int
        True source positions in metres or indices into ``positions``.
    estimate : ndarray | SourceEstimate
        The estimated map.
    positions : ndarray, shape (n_points, 3)
        Source positions in metres.

    Returns
    -------
    sd : float
        Spatial dispersion in mm.
    """
    positions = np.asarray(positions, dtype=float)
    centers = np.asarray(true_centers)
    if centers.ndim == 1:
        centers = positions[centers.astype(int)]
    d, _ = cKDTree(centers).query(positions)
    power = amplitude(estimate) ** 2
    return 1e3 * float(np.sqrt(np.sum(power * d**2) / np.sum(power)))


def auc(
    true: np.ndarray, estimate: np.ndarray, *, active_threshold: float = 0.1
) -> float:
    """Area under the ROC curve for detecting the active sources.

    Points whose true amplitude is at least ``active_threshold`` times the
    largest are active; the estimated amplitude is the detection score.

    Parameters
    ----------
    true, estimate : ndarray | SourceEstimate
        The maps (see :func:`amplitude`).
    active_threshold : float
        Relative amplitude that makes a point active.

    Returns
    -------
    value : float
        AUC in [0, 1]; 0.5 is chance.
    """
    t, e = amplitude(true), amplitude(estimate)
    active = t >= active_threshold * t.max()
    n_pos, n_neg = active.sum(), (~active).sum()
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = rankdata(e)
    return float((ranks[active].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def nmse(true: np.ndarray, estimate: np.ndarray) -> float:
    """Normalised mean squared error between two maps.

    Both maps are divided by their largest absolute value (the method's
    amplitude scale is arbitrary); the result is the mean squared difference
    over points (and components, for vector maps).

    Parameters
    ----------
    true, estimate : ndarray | SourceEstimate
        The maps, of the same shape.

    Returns
    -------
    value : float
        The nMSE (0 is perfect).
    """
    t, e = _as_array(true), _as_array(estimate)
    if t.shape != e.shape:
        raise ValueError(f"Shapes differ: {t.shape} and {e.shape}")
    t = t / np.abs(t).max()
    e = e / max(np.abs(e).max(), np.finfo(float).tiny)
    return float(np.mean((t - e) ** 2))
