"""How far a 3D-PIUNet map may be off: expected error and credible maps.

A model's card may hold a calibration (``info["uncertainty"]``, fitted by
:func:`mne_piunet.training.calibrate_uncertainty` on simulations with known
sources) of two rules:

- the expected normalised EMD of each time point's map, a linear model of
  the logarithm on a few statistics of the data, the network's map and its
  init (:func:`reliability_features`);
- a calibrated probability of where a single source is: the map's
  magnitudes raised to a power (a function of that expectation), normalised
  and mixed with the init's normalised map, which holds the sources the
  network's map misses (:func:`credible_probability`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import mne
import numpy as np
import torch

from ._mne_private import make_stc, validate_type

# counts and spreads relative to the source space's, so that the rules carry
# over to a head with a smaller or larger brain
FEATURES = (
    "log data power per whitened channel",
    "log effective share of the points, map",
    "log effective share of the points, init",
    "log spread of the map, relative",
    "log spread of the init, relative",
    "log distance of their maxima (m, + 5 mm)",
    "share of the map's largest point",
    "log unexplained share of the whitened data",
)


@dataclass(frozen=True)
class Calibration:
    """A model's fitted uncertainty rules (see the module docstring).

    Parameters
    ----------
    coef : tuple of float
        Intercept and one weight per :data:`FEATURES` of the log expected nEMD.
    gamma : tuple of float
        ``(a, b)``: the credible map's power is ``exp(a) * expected ** b``.
    weight : float
        Share of the network's map in the credible map (the rest: the
        init's).
    fitted_on : dict
        How the rules were fitted (head, samples, seed) and what they scored.
    """

    coef: tuple
    gamma: tuple
    weight: float
    fitted_on: dict

    def __post_init__(self):
        if len(self.coef) != len(FEATURES) + 1:
            raise ValueError(
                f"coef needs {len(FEATURES) + 1} values (intercept and one per "
                f"feature), got {len(self.coef)}"
            )

    def to_dict(self) -> dict:
        """Return the card's ``info["uncertainty"]`` entry."""
        return asdict(self)

    @classmethod
    def from_model(cls, model) -> Calibration:
        """Return the model's calibration or raise if its card has none."""
        entry = model.info.get("uncertainty")
        if entry is None:
            raise ValueError(
                f"The model {model!r} has no calibrated uncertainty (its card has "
                "no 'uncertainty' entry); calibrate it with "
                "mne_piunet.training.calibrate_uncertainty(model, forward)"
            )
        return cls(
            coef=tuple(entry["coef"]),
            gamma=tuple(entry["gamma"]),
            weight=float(entry["weight"]),
            fitted_on=dict(entry["fitted_on"]),
        )

    def expected_nemd(self, features: torch.Tensor) -> torch.Tensor:
        """Return the expected nEMD per sample from :func:`reliability_features`."""
        coef = torch.as_tensor(self.coef, dtype=features.dtype, device=features.device)
        return torch.exp(coef[0] + features @ coef[1:])

    def power(self, expected: torch.Tensor) -> torch.Tensor:
        """Return the credible map's power per sample."""
        a, b = self.gamma
        return np.exp(a) * expected**b


def reliability_features(
    pattern: torch.Tensor,
    init: torch.Tensor,
    data: torch.Tensor,
    gain: torch.Tensor,
    positions: torch.Tensor,
    rank: int,
) -> torch.Tensor:
    """Return the statistics the expected nEMD is predicted from.

    Parameters
    ----------
    pattern : torch.Tensor, shape (n, n_points, 3)
        The network's finished map (:meth:`PIUNet.finish`) at the source points.
    init : torch.Tensor, shape (n, n_points, 3)
        The physics init.
    data : torch.Tensor, shape (n, n_channels)
        Whitened sensor data.
    gain : torch.Tensor, shape (n_channels, n_points * 3)
        Whitened gain.
    positions : torch.Tensor, shape (n_points, 3)
        Source positions in metres.
    rank : int
        Rank of the whitened data (channels less projectors).

    Returns
    -------
    features : torch.Tensor, shape (n, len(FEATURES))
        In the order of :data:`FEATURES`, float64.
    """
    dtype = torch.float64
    pattern, data = pattern.to(dtype), data.to(dtype)
    gain, positions = gain.to(dtype), positions.to(dtype)
    net, phys = pattern.norm(dim=2), init.to(dtype).norm(dim=2)
    power = (data * data).sum(dim=1)
    gap = positions[net.argmax(dim=1)] - positions[phys.argmax(dim=1)]
    n_points = len(positions)
    space = _spread(torch.ones(1, n_points, dtype=dtype), positions)
    columns = (
        (power / rank).clamp_min(_TINY).log(),
        (_effective_count(net) / n_points).log(),
        (_effective_count(phys) / n_points).log(),
        (_spread(net, positions) / space).clamp_min(_TINY).log(),
        (_spread(phys, positions) / space).clamp_min(_TINY).log(),
        (gap.norm(dim=1) + 0.005).log(),
        net.amax(dim=1) / net.sum(dim=1).clamp_min(_TINY),
        _unexplained(pattern, data, gain, power).clamp_min(_TINY).log(),
    )
    return torch.stack(columns, dim=1)


def _unexplained(pattern, data, gain, power):
    """Share of the whitened data that the best-scaled map leaves unexplained."""
    projected = pattern.reshape(len(pattern), -1) @ gain.T
    fit = (projected * data).sum(dim=1) / (projected**2).sum(dim=1).clamp_min(_TINY)
    residual = data - fit[:, None] * projected
    return (residual**2).sum(dim=1) / power.clamp_min(_TINY)


_TINY = 1e-30


def _distribution(magnitudes):
    return magnitudes / magnitudes.sum(dim=1, keepdim=True).clamp_min(_TINY)


def _effective_count(magnitudes):
    """exp(entropy) of the normalised map: how many points hold its mass."""
    p = _distribution(magnitudes)
    return torch.exp(-(p * p.clamp_min(_TINY).log()).sum(dim=1))


def _spread(magnitudes, positions):
    """Root mean square distance of the map's mass from its centre."""
    p = _distribution(magnitudes)
    centre = p @ positions
    dist2 = ((positions[None] - centre[:, None]) ** 2).sum(dim=2)
    return (p * dist2).sum(dim=1).sqrt()


def credible_probability(
    magnitudes: torch.Tensor,
    init: torch.Tensor,
    power: torch.Tensor,
    weight: float,
) -> torch.Tensor:
    """Return the credible map: ``weight`` of the powered map, the rest the init's.

    Parameters
    ----------
    magnitudes, init : torch.Tensor, shape (n, n_points)
        The network's and the init's magnitudes.
    power : torch.Tensor, shape (n,)
        The power of each sample's map.
    weight : float
        Share of the network's map.

    Returns
    -------
    probability : torch.Tensor, shape (n, n_points)
        Each row sums to one, float64.
    """
    m = magnitudes.to(torch.float64)
    scaled = m / m.amax(dim=1, keepdim=True).clamp_min(_TINY)
    powered = _distribution(scaled ** power.to(torch.float64)[:, None])
    return weight * powered + (1 - weight) * _distribution(init.to(torch.float64))


def credible_mask(probability: np.ndarray, level: float) -> np.ndarray:
    """Return the smallest set of points per column holding ``level`` of the mass.

    Parameters
    ----------
    probability : ndarray, shape (n_points, n_times)
        Each column sums to one.
    level : float
        From 0 to 1.

    Returns
    -------
    mask : ndarray of bool, shape (n_points, n_times)
    """
    order = np.argsort(-probability, axis=0, kind="stable")
    mass = np.take_along_axis(probability, order, axis=0)
    # a point is in the region when the mass of the points before it is short
    before = np.cumsum(mass, axis=0) - mass
    mask = np.zeros(probability.shape, bool)
    np.put_along_axis(mask, order, before < level, axis=0)
    return mask


@dataclass
class MapUncertainty:
    """The calibrated uncertainty of a 3D-PIUNet source estimate.

    Returned with the estimate by ``apply_piunet(..., return_uncertainty=True)``
    (and by ``apply_piunet_epochs`` and ``apply_piunet_raw``).

    Attributes
    ----------
    expected_nemd : ndarray, shape (n_times,)
        Each time point's expected normalised earth mover's distance to the
        true sources (0: exact; 1: no better than a flat map), as the
        model's calibration predicts it from the data's SNR, the map and its
        init. It ranks maps by their error; the benchmarks page says how
        well.
    probability : SourceEstimate | VolSourceEstimate
        Per time point, a probability over the source points (summing to
        one) of where the activity is: the map's magnitudes raised to a
        power that grows with the map's reliability, mixed with a share of
        the init's map, calibrated on simulated single sources. On a head
        the model was not trained on, its credible regions hold a source's
        centre about as often as they say (the benchmarks page).
    """

    expected_nemd: np.ndarray
    probability: mne.SourceEstimate | mne.VolSourceEstimate

    def credible_region(self, level: float = 0.9):
        """Return the smallest set of sources holding ``level`` of the probability.

        Parameters
        ----------
        level : float
            The credibility, from 0 to 1 (0.9: the region should hold a
            single source's centre 9 times in 10; see ``probability``).

        Returns
        -------
        region : SourceEstimate | VolSourceEstimate
            1 at the sources in the region, 0 elsewhere, per time point.
        """
        validate_type(level, "numeric", "level")
        if not 0 < level <= 1:
            raise ValueError(f"level must be above 0 and at most 1, got {level}")
        stc = self.probability
        mask = credible_mask(stc.data, level).astype(stc.data.dtype)
        return make_stc(
            mask,
            stc.vertices,
            src_type="volume" if isinstance(stc, mne.VolSourceEstimate) else "surface",
            tmin=stc.tmin,
            tstep=stc.tstep,
            subject=stc.subject,
        )
