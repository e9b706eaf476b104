"""Fitting a model's uncertainty rules on simulated sources (its calibration)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import mne
import numpy as np
import torch
from mne.utils import ProgressBar, logger, verbose

from .._docs import fill_doc
from .._mne_private import validate_type
from .._model import PIUNet, check_model
from .._operator import make_piunet_operator
from .._sensors import forward_eeg_info, white_noise_variances
from .._uncertainty import (
    Calibration,
    credible_probability,
)
from ..metrics import normalized_emd
from ..simulation import forward_source_positions, simulate_blobs

LEVELS = np.arange(0.1, 0.96, 0.05)  # credible levels the power is fitted to
POWERS = np.exp(np.linspace(np.log(0.25), np.log(64.0), 80))  # evenly in log
WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)  # the network's share


@dataclass(frozen=True)
class CalibrationConfig:
    """What a calibration simulates (the benchmark's blobs and white noise).

    Parameters
    ----------
    n_sources : tuple of int
        Numbers of simultaneous sources.
    snr_db : tuple of float
        SNRs in dB.
    extent : tuple of float
        Range of the blobs' standard deviations (metres).
    n_samples : int
        Samples per (number of sources, SNR) cell.
    seed : int
        Seed of the simulations.
    """

    n_sources: tuple = (1, 2, 3, 4, 5, 7, 10)
    snr_db: tuple = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0)
    extent: tuple = (0.005, 0.040)
    n_samples: int = 24
    seed: int = 777


@verbose
@fill_doc
def calibrate_uncertainty(
    model: PIUNet | str | None,
    forward: mne.Forward,
    config: CalibrationConfig | None = None,
    *,
    verbose: bool | str | int | None = None,
) -> PIUNet:
    """Fit a model's uncertainty rules on sources simulated through ``forward``.

    The model localises simulated blobs (as the benchmark's, white sensor
    noise) whose true maps are known, and the two rules of
    ``apply_piunet(..., return_uncertainty=True)`` are fitted to them:

    - the expected normalised EMD of a map: least squares on the log nEMD
      of a few statistics of the data, the map and its init;
    - the credible map: the map's magnitudes to a power (a function of that
      expectation), mixed with the init's map, so that single sources'
      centres fall in its credible regions at the nominal rates (from 0.1
      to 0.95).

    Parameters
    ----------
    %(model)s
    forward : instance of Forward
        Free-orientation EEG forward solution of a head like those the model
        will meet. A network is more accurate on the head it was trained on:
        rules fitted there promise too much elsewhere, so the shipped
        default's were fitted on the template with other electrodes and
        conductivities (``recipes/uncertainty.py``).
    config : CalibrationConfig | None
        What to simulate (``None``: the defaults, about 6 minutes on 2 CPU
        cores).
    %(verbose)s

    Returns
    -------
    model : PIUNet
        A copy of the model whose card holds the calibration
        (``info["uncertainty"]``).
    """
    validate_type(forward, mne.Forward, "forward")
    config = CalibrationConfig() if config is None else config
    validate_type(config, CalibrationConfig, "config")
    model = check_model(model)
    scores = _score_simulations(model, forward, config)
    coef = _fit_expected(scores)
    expected = np.exp(scores["features"] @ coef[1:] + coef[0])
    gamma, weight, coverage = _fit_power(scores, expected)
    fitted_on = dict(
        forward=f"{forward['nsource']} sources, {forward['nchan']} channels",
        config=dataclasses.asdict(config),
        coverage=coverage,
    )
    coef = tuple(map(float, coef))
    calibration = Calibration(coef, gamma, weight, fitted_on)
    calibrated = PIUNet(model.network, model.grid, copy.deepcopy(model.info))
    calibrated.info["uncertainty"] = calibration.to_dict()
    logger.info(f"Calibrated the uncertainty of {model!r}")
    return calibrated


def _score_simulations(model, forward, config):
    """Features, nEMD and centre ranks of simulated samples."""
    info = forward_eeg_info(forward)
    cov = mne.make_ad_hoc_cov(info, verbose=False)
    op = make_piunet_operator(info, forward, cov, model=model, verbose=False)
    positions = forward_source_positions(forward)
    rng = np.random.default_rng(config.seed)
    cells = [(k, s) for k in config.n_sources for s in config.snr_db]
    rows = []
    for k, snr in ProgressBar(cells, mesg="calibration cells"):
        batch = simulate_blobs(
            forward,
            config.n_samples,
            k,
            snr_db=snr,
            extent=config.extent,
            seed=rng,
        )
        truth = batch.sources.numpy()
        noise = white_noise_variances(
            forward["sol"]["data"], truth, batch.snr_db.numpy()
        )
        data = batch.sensors.numpy().T * np.sqrt(cov.data[0] / noise)
        features, maps, inits = _run_model(op, data)
        for i in range(len(truth)):
            rows.append(
                dict(
                    k=k,
                    snr=snr,
                    features=features[i],
                    nemd=normalized_emd(truth[i], maps[i], positions, resolution=0.014),
                    ranks=_centre_ranks(maps[i], inits[i], batch.centers[i, 0])
                    if k == 1
                    else None,
                )
            )
    return _stack(rows)


def _run_model(op, data):
    """Return the features, the maps' magnitudes and the inits'."""
    kernel, model = op.kernel(1), op.model
    with torch.inference_mode():
        init = kernel.apply(data, device="cpu")
        fit = op._fit(torch.as_tensor(data), 1, "cpu")
        finished, features = op.finish_and_score(init, fit, None, None, 1)
        maps = model.scale(finished, init, fit=fit).norm(dim=2).numpy()
    return features.numpy(), maps, init.norm(dim=2).numpy()


def _centre_ranks(magnitudes, init, centre):
    """Mass ahead of the true centre in the credible map, per weight and power."""
    n = len(POWERS)
    m = torch.as_tensor(magnitudes, dtype=torch.float64)[None].expand(n, -1)
    q = torch.as_tensor(init, dtype=torch.float64)[None].expand(n, -1)
    ranks = []
    for weight in WEIGHTS:
        p = credible_probability(m, q, torch.as_tensor(POWERS), weight).numpy()
        ranks.append((p * (p > p[:, [int(centre)]])).sum(axis=1))
    return np.array(ranks)


def _stack(rows):
    single = [r for r in rows if r["ranks"] is not None]
    return dict(
        k=np.array([r["k"] for r in rows]),
        snr=np.array([r["snr"] for r in rows]),
        features=np.array([r["features"] for r in rows]),
        nemd=np.array([r["nemd"] for r in rows]),
        single=np.array([r["k"] == 1 for r in rows]),
        ranks=np.array([r["ranks"] for r in single]),
    )


def _fit_expected(scores):
    """Least-squares log nEMD of the network's map on the features."""
    design = np.column_stack([np.ones(len(scores["k"])), scores["features"]])
    coef, *_ = np.linalg.lstsq(design, np.log(scores["nemd"]), rcond=None)
    return coef


def _fit_power(scores, expected):
    """Return the power ``(a, b)``, the network's weight and the coverage.

    The credible map's power is ``exp(a) * expected**b``; the rules are the
    ones whose regions hold single sources' centres closest to the nominal
    rates, in each third of the maps by expected nEMD.
    """
    ranks, r = scores["ranks"], expected[scores["single"]]
    groups = np.array_split(np.argsort(r), 3)  # calibrated at every reliability
    best = (np.inf, None)
    for w, by_power in enumerate(np.moveaxis(ranks, 1, 0)):
        for a in np.linspace(-2.0, 5.0, 71):
            for b in np.linspace(-4.0, 2.0, 61):
                ahead = _ranks_at(by_power, np.exp(a) * r**b)
                error = sum(_miscoverage(ahead[g]) for g in groups)
                best = min(best, (error, (float(a), float(b), w)))
    a, b, w = best[1]
    ahead = _ranks_at(ranks[:, w], np.exp(a) * r**b)
    coverage = {f"{lv:.2f}": float(np.mean(ahead < lv)) for lv in LEVELS}
    return (a, b), WEIGHTS[w], coverage


def _ranks_at(ranks, powers):
    """Each sample's centre rank at its own power (linear in log power)."""
    step = np.log(POWERS[1] / POWERS[0])
    position = np.clip(np.log(powers / POWERS[0]) / step, 0, len(POWERS) - 1)
    lower = np.minimum(position.astype(int), len(POWERS) - 2)
    frac = position - lower
    rows = np.arange(len(ranks))
    return (1 - frac) * ranks[rows, lower] + frac * ranks[rows, lower + 1]


def _miscoverage(ahead):
    return float(((np.mean(ahead[:, None] < LEVELS, axis=0) - LEVELS) ** 2).sum())
