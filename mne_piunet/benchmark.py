"""Seeded benchmarks of PIUNet against MNE's linear inverses (the paper's protocol).

Each test sample is one time point: a simulated source field (paper's Gaussian
blobs, fixed number of sources and SNR per cell), its noisy sensor data, and
every method's estimate from the same data. Many samples go through each
method at once as the "time points" of one :class:`mne.EvokedArray`, through
the public APIs (:func:`mne_piunet.apply_piunet`,
:func:`mne.minimum_norm.apply_inverse`).
"""

import csv
import time
from dataclasses import dataclass, replace

import mne
import numpy as np
from mne.utils import ProgressBar, verbose

from . import metrics
from ._grid import forward_source_positions
from ._inverse import apply_piunet
from .simulation import SimulationConfig, SourceSimulator, torch_generator
from .training import _eeg_info_with_avg_ref

LINEAR_METHODS = ("eLORETA", "sLORETA", "dSPM", "MNE")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Test sets and methods of a benchmark.

    Parameters
    ----------
    snr_db : tuple of float
        SNRs tested.
    n_sources : tuple of int
        Numbers of simultaneous sources tested.
    extent : tuple of float
        Range of blob standard deviations (metres), drawn per source.
    n_samples : int
        Samples per (SNR, number of sources) cell.
    methods : tuple of str
        ``"PIUNet"`` and any of ``"eLORETA"``, ``"sLORETA"``, ``"dSPM"``,
        ``"MNE"``.
    lambda2 : float
        Regularisation of the linear methods and of PIUNet's init.
    emd_resolution : float | None
        Pooling of the EMD (see :func:`mne_piunet.metrics.emd`).
    seed : int
        Seed of the test sets (training uses other seeds).
    """

    snr_db: tuple = (0.0, 5.0, 10.0, 20.0)
    n_sources: tuple = (1, 3, 5, 10)
    extent: tuple = (0.005, 0.040)
    n_samples: int = 25
    methods: tuple = ("PIUNet", "eLORETA")
    lambda2: float = 1.0 / 9.0
    emd_resolution: float | None = 0.014
    seed: int = 12345


@verbose
def run_benchmark(forward, model, config=None, *, verbose=None):
    """Run the benchmark; return one record (dict) per sample and method.

    Parameters
    ----------
    forward : instance of Forward
        Head model the test data are simulated with and inverted on.
    model : PIUNet | path-like | None
        The model for the ``"PIUNet"`` method.
    config : BenchmarkConfig | None
        What to test.
    %(verbose)s

    Returns
    -------
    records : list of dict
        Keys: method, snr_db, n_sources, sample, nemd, loc_error_mm,
        n_missed, dispersion_mm, auc, nmse, time_s (per sample).
    """
    config = BenchmarkConfig() if config is None else config
    positions = forward_source_positions(forward)
    info = _eeg_info_with_avg_ref(forward)
    rng = np.random.default_rng(config.seed)
    cells = [(s, k) for k in config.n_sources for s in config.snr_db]
    records = []
    for snr, k in ProgressBar(cells, mesg="benchmark cells"):
        sim = SourceSimulator(
            forward,
            SimulationConfig(n_sources=(k, k), extent=config.extent, snr_db=(snr, snr)),
        )
        batch = sim.sample(config.n_samples, torch_generator(rng))
        evoked = mne.EvokedArray(batch.sensors.numpy().T, info, tmin=0.0, nave=1)
        truth = batch.sources.numpy()
        for method in config.methods:
            t0 = time.perf_counter()
            est = _estimate(method, evoked, forward, model, config.lambda2)
            per_sample = (time.perf_counter() - t0) / config.n_samples
            for i in range(config.n_samples):
                centers = batch.centers[i, :k].numpy()
                records.append(
                    _score(
                        method,
                        snr,
                        k,
                        i,
                        truth[i],
                        est[:, :, i],
                        centers,
                        positions,
                        config,
                        per_sample,
                    )
                )
    return records


def _estimate(method, evoked, forward, model, lambda2):
    """Vector estimate (n_sources, 3, n_samples) of one method."""
    mne_log = dict(verbose=False)
    if method == "PIUNet":
        stc = apply_piunet(
            evoked, forward, model, lambda2=lambda2, pick_ori="vector", **mne_log
        )
        return stc.data
    if method in LINEAR_METHODS:
        cov = mne.make_ad_hoc_cov(evoked.info, verbose=False)
        inv = mne.minimum_norm.make_inverse_operator(
            evoked.info, forward, cov, loose=1.0, **mne_log
        )
        stc = mne.minimum_norm.apply_inverse(
            evoked, inv, lambda2, method, pick_ori="vector", **mne_log
        )
        return stc.data
    raise ValueError(f"Unknown method {method!r}; allowed: PIUNet, {LINEAR_METHODS}")


def _score(method, snr, k, i, truth, est, centers, positions, config, time_s):
    le, missed = metrics.localization_error(centers, est, positions)
    return dict(
        method=method,
        snr_db=snr,
        n_sources=k,
        sample=i,
        nemd=metrics.normalized_emd(
            truth, est, positions, resolution=config.emd_resolution
        ),
        loc_error_mm=le,
        n_missed=missed,
        dispersion_mm=metrics.spatial_dispersion(centers, est, positions),
        auc=metrics.auc(truth, est),
        nmse=metrics.nmse(truth, est),
        time_s=time_s,
    )


def write_csv(records, fname):
    """Write benchmark records to a CSV file."""
    with open(fname, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def summary_table(records, metric="nemd"):
    """Markdown table of median [IQR] of ``metric`` per condition and method.

    Parameters
    ----------
    records : list of dict
        Output of :func:`run_benchmark`.
    metric : str
        Column to summarise.

    Returns
    -------
    table : str
        The markdown table.
    """
    methods = list(dict.fromkeys(r["method"] for r in records))
    conds = list(dict.fromkeys((r["n_sources"], r["snr_db"]) for r in records))
    lines = [
        "| sources | SNR (dB) | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for k, snr in conds:
        cells = []
        for m in methods:
            vals = np.array(
                [
                    r[metric]
                    for r in records
                    if r["method"] == m and r["n_sources"] == k and r["snr_db"] == snr
                ],
                float,
            )
            q1, med, q3 = np.nanpercentile(vals, [25, 50, 75])
            cells.append(f"{med:.3g} [{q1:.3g}, {q3:.3g}]")
        lines.append(f"| {k} | {snr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def quick_config(config=None):
    """Return a reduced configuration that runs in a few minutes on 2 CPU cores."""
    config = BenchmarkConfig() if config is None else config
    return replace(config, snr_db=(5.0, 20.0), n_sources=(1, 3), n_samples=8)
