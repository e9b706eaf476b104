"""Seeded benchmarks of PIUNet against MNE's linear inverses (the paper's protocol).

Each test sample is one time point: a simulated source field (paper's Gaussian
blobs, fixed number of sources and SNR per cell), its noisy sensor data, and
every method's estimate from the same data. Many samples go through each
method at once as the "time points" of one :class:`mne.EvokedArray`, through
the public APIs (:func:`mne_piunet.apply_piunet`,
:func:`mne.minimum_norm.apply_inverse`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    import os

    import matplotlib.figure

    from ._model import PIUNet

import csv
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import mne
import numpy as np
from mne.cov import compute_whitener
from mne.utils import ProgressBar, verbose

from . import metrics
from ._docs import fill_doc
from ._grid import forward_source_positions
from ._inverse import INDEPENDENT_SAMPLES, apply_piunet, check_share
from ._mne_private import check_option
from ._operator import match_forward
from ._sensors import (
    covariance_root,
    forward_eeg_info,
    pick_good_channels,
    white_noise_variances,
)
from .simulation import (
    SimulationConfig,
    simulate_blobs,
    simulate_patches,
)

LINEAR_METHODS = ("eLORETA", "sLORETA", "dSPM", "MNE")
SNAPSHOT_METHODS = ("LCMV", "MxNE", "gamma-MAP")  # fitted to one sample at a time
METHODS = ("PIUNet",) + LINEAR_METHODS + SNAPSHOT_METHODS


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
        Any of ``"PIUNet"``, ``"eLORETA"``, ``"sLORETA"``, ``"dSPM"``,
        ``"MNE"``, ``"LCMV"``, ``"MxNE"``, ``"gamma-MAP"`` (see Notes).
    lambda2 : float
        Regularisation of the linear methods and of PIUNet's init.
    lcmv_reg : float
        Regularisation of the LCMV data covariance (``reg`` of
        :func:`mne.beamformer.make_lcmv`).
    mxne_alpha : float
        MxNE regularisation in percent of its maximum (``alpha`` of
        :func:`mne.inverse_sparse.mixed_norm`).
    gamma_map_alpha : float
        Gamma-MAP noise regularisation (``alpha`` of
        :func:`mne.inverse_sparse.gamma_map`).
    emd_resolution : float | None
        Pooling of the EMD (see :func:`mne_piunet.metrics.emd`).
    seed : int
        Seed of the test sets (training uses other seeds).
    sources : "blobs" | "patches"
        ``"blobs"``: the paper's Gaussian blobs (standard deviations in
        ``extent``) with random orientations, on any source space.
        ``"patches"``: cortical patches along the surface normals (areas in
        ``patch_area``; :func:`mne_piunet.simulation.simulate_patches`),
        on surface source spaces only.
    patch_area : tuple of float
        Range of the patch areas in m² with ``sources="patches"``.
    blend : float
        Share of the init's map in PIUNet's (as in
        :func:`mne_piunet.apply_piunet`).

    Notes
    -----
    All methods run through MNE's own implementations with free orientations
    (``loose=1``, ``pick_ori="vector"``). The linear methods and PIUNet's init
    use an ad-hoc diagonal noise covariance, which for white sensor noise
    gives the same kernels as the true one; PIUNet gets each sample scaled so
    that its noise has that covariance (its estimate scales with the data and
    is scaled back), as if the true covariance were given. LCMV, MxNE and gamma-MAP are
    fitted to each sample (one time point) alone, with the true noise
    covariance of that sample (white, average-referenced): LCMV's data
    covariance is the snapshot's outer product plus that noise covariance
    (unit-noise-gain-invariant weights); MxNE uses depth weighting 0.9 and
    ``alpha`` in percent of its maximum; gamma-MAP's ``alpha`` of 1 matches
    whitened noise of unit variance. An estimate that is all zero (a sparse
    method that found no source) scores as a flat map: normalised EMD 1.
    """

    snr_db: tuple = (0.0, 5.0, 10.0, 20.0, 30.0)
    n_sources: tuple = (1, 2, 3, 5, 10)
    extent: tuple = (0.005, 0.040)
    n_samples: int = 25
    methods: tuple = METHODS
    lambda2: float = 1.0 / 9.0
    emd_resolution: float | None = 0.014
    lcmv_reg: float = 0.05
    mxne_alpha: float = 50.0
    gamma_map_alpha: float = 1.0
    seed: int = 12345
    sources: str = "blobs"
    patch_area: tuple = (1e-4, 10e-4)
    blend: float = 0.0

    def __post_init__(self):
        check_option("sources", self.sources, ("blobs", "patches"))
        check_share(self.blend, "blend")
        SimulationConfig(extent=self.extent)  # the simulator's own extent rule


@verbose
@fill_doc
def run_benchmark(
    forward: mne.Forward,
    model: PIUNet | str | None,
    config: BenchmarkConfig | None = None,
    *,
    info: mne.Info | None = None,
    noise_cov: mne.Covariance | None = None,
    verbose: bool | str | int | None = None,
) -> list[dict]:
    """Run the benchmark; return one record (dict) per sample and method.

    Parameters
    ----------
    forward : instance of Forward
        Head model the test data are simulated with and inverted on.
    %(model)s
    config : BenchmarkConfig | None
        What to test.
    info : instance of Info | None
        Measurement info of the simulated data (with ``noise_cov``): its good
        MEG/EEG channels that the forward models, its projectors (SSP,
        average reference). ``None``: the forward's EEG channels,
        average-referenced.
    noise_cov : instance of Covariance | None
        The sensor noise's covariance: every sample's noise is drawn from it
        and every method is given it, the SNR measured after whitening with
        it (signal scaled, noise as it is). ``None``: white noise, as in the
        Notes of :class:`BenchmarkConfig`.
    %(verbose)s

    Returns
    -------
    records : list of dict
        Keys: method, snr_db, n_sources, extent_mm (mean blob std, or patch
        equivalent radius, of the
        sample), sample, nemd, loc_error_mm, n_missed, dispersion_mm, auc,
        nmse, time_s (per sample).
    """
    config = BenchmarkConfig() if config is None else config
    for method in config.methods:
        check_option("method", method, METHODS)
    positions = forward_source_positions(forward)
    if noise_cov is None:
        info = forward_eeg_info(forward)
    else:
        forward, info = _coloured_setup(forward, info, noise_cov, config)
    rng = np.random.default_rng(config.seed)
    cells = [(s, k) for k in config.n_sources for s in config.snr_db]
    records = []
    for snr, k in ProgressBar(cells, mesg="benchmark cells"):
        batch = _simulate_cell(forward, config, k, snr, rng)
        truth = batch.sources.numpy()
        if noise_cov is None:
            sensors = batch.sensors.numpy().T
            noise_vars = white_noise_variances(
                forward["sol"]["data"], truth, batch.snr_db.numpy()
            )
            estimate = partial(_estimate, noise_vars=noise_vars)
        else:
            sensors = _coloured_data(forward, info, noise_cov, truth, snr, rng)
            estimate = partial(_estimate_with_cov, noise_cov=noise_cov)
        evoked = mne.EvokedArray(sensors, info, tmin=0.0, nave=1)
        for method in config.methods:
            t0 = time.perf_counter()
            est = estimate(method, evoked, forward, model, config)
            per_sample = (time.perf_counter() - t0) / config.n_samples
            for i in range(config.n_samples):
                centers = batch.centers[i, :k].numpy()
                extent_mm = 1e3 * float(batch.extents[i, :k].mean())
                records.append(
                    _score(
                        (method, snr, k, extent_mm, i),
                        truth[i],
                        est[:, :, i],
                        centers,
                        positions,
                        config,
                        per_sample,
                    )
                )
    return records


def _simulate_cell(forward, config, n_sources, snr, rng):
    """Test samples of one (number of sources, SNR) cell."""
    if config.sources == "patches":
        return simulate_patches(
            forward,
            config.n_samples,
            n_sources,
            snr_db=snr,
            patch_area=config.patch_area,
            seed=rng,
        )
    return simulate_blobs(
        forward,
        config.n_samples,
        n_sources,
        snr_db=snr,
        extent=config.extent,
        seed=rng,
    )


def _coloured_setup(forward, info, noise_cov, config):
    """Return the forward and info of a benchmark with a given noise covariance."""
    if info is None:
        raise ValueError("A benchmark with a noise_cov needs the data's info")
    bad = [m for m in config.methods if m not in ("PIUNet",) + LINEAR_METHODS]
    if bad:
        raise ValueError(f"With a noise_cov, {bad} cannot run (one noise per sample)")
    # the channels make_piunet_operator uses
    forward, info = match_forward(forward, pick_good_channels(info))
    return forward, info


def _coloured_data(forward, info, noise_cov, sources, snr_db, rng):
    """Signal scaled to ``snr_db`` over noise drawn from ``noise_cov``.

    The SNR is the ratio of signal and noise power after whitening with the
    covariance and the data's projectors, as the inverses see them.
    """
    cov = noise_cov.copy().pick_channels(info["ch_names"], ordered=True)
    whitener = compute_whitener(cov, info, verbose=False)[0]
    signal = forward["sol"]["data"] @ sources.reshape(len(sources), -1).T
    noise = covariance_root(cov.data) @ rng.standard_normal(signal.shape)
    p_signal = ((whitener @ signal) ** 2).sum(axis=0)
    p_noise = ((whitener @ noise) ** 2).sum(axis=0)
    return signal * np.sqrt(p_noise / p_signal * 10 ** (snr_db / 10)) + noise


def _estimate_with_cov(method, evoked, forward, model, config, noise_cov):
    """Vector estimate (n_sources, 3, n_samples) given the true noise covariance."""
    if method == "PIUNet":
        stc = apply_piunet(
            evoked,
            forward,
            model,
            noise_cov,
            lambda2=config.lambda2,
            pick_ori="vector",
            **INDEPENDENT_SAMPLES,
            blend=config.blend,
            verbose=False,
        )
        return stc.data
    inv = mne.minimum_norm.make_inverse_operator(
        evoked.info, forward, noise_cov, loose=1.0, verbose=False
    )
    stc = mne.minimum_norm.apply_inverse(
        evoked, inv, config.lambda2, method, pick_ori="vector", verbose=False
    )
    return stc.data


def _estimate(method, evoked, forward, model, config, noise_vars):
    """Vector estimate (n_sources, 3, n_samples) of one method."""
    if method == "PIUNet":
        # Each sample scaled so that its noise is the ad-hoc covariance's: the
        # estimate scales with the data and is scaled back.
        cov = mne.make_ad_hoc_cov(evoked.info, verbose=False)
        scale = np.sqrt(cov.data[0] / noise_vars)
        scaled = mne.EvokedArray(evoked.data * scale, evoked.info, verbose=False)
        stc = apply_piunet(
            scaled,
            forward,
            model,
            cov,  # the scaled samples' true noise covariance
            lambda2=config.lambda2,
            pick_ori="vector",
            **INDEPENDENT_SAMPLES,  # the "time points" are independent samples
            blend=config.blend,
            verbose=False,
        )
        return stc.data / scale
    if method in LINEAR_METHODS:
        cov = mne.make_ad_hoc_cov(evoked.info, verbose=False)
        inv = mne.minimum_norm.make_inverse_operator(
            evoked.info, forward, cov, loose=1.0, verbose=False
        )
        stc = mne.minimum_norm.apply_inverse(
            evoked, inv, config.lambda2, method, pick_ori="vector", verbose=False
        )
        return stc.data
    out = np.zeros((forward["nsource"], 3, len(evoked.times)))
    for i, noise_var in enumerate(noise_vars):
        snapshot = evoked.copy().crop(evoked.times[i], evoked.times[i])
        cov = _white_cov(evoked.info, noise_var)
        stc = _fit_snapshot(method, snapshot, forward, cov, config)
        out[:, :, i] = _full_vector(stc, forward["src"])[:, :, 0]
    return out


def _white_cov(info, noise_var):
    n = len(info["ch_names"])
    return mne.Covariance(
        noise_var * np.eye(n), info["ch_names"], [], info["projs"], nfree=1000
    )


def _fit_snapshot(method, evoked, forward, noise_cov, config):
    """LCMV, MxNE or gamma-MAP on one time point (see BenchmarkConfig Notes)."""
    log = dict(verbose=False)
    if method == "LCMV":
        y = evoked.data
        data_cov = mne.Covariance(
            y @ y.T + noise_cov.data, noise_cov.ch_names, [], noise_cov["projs"], 1
        )
        filters = mne.beamformer.make_lcmv(
            evoked.info,
            forward,
            data_cov,
            reg=config.lcmv_reg,
            noise_cov=noise_cov,
            pick_ori="vector",
            **log,
        )
        return mne.beamformer.apply_lcmv(evoked, filters, **log)
    if method == "MxNE":
        return mne.inverse_sparse.mixed_norm(
            evoked,
            forward,
            noise_cov,
            alpha=config.mxne_alpha,
            loose=1.0,
            depth=0.9,
            pick_ori="vector",
            **log,
        )
    return mne.inverse_sparse.gamma_map(
        evoked,
        forward,
        noise_cov,
        alpha=config.gamma_map_alpha,
        loose=1.0,
        pick_ori="vector",
        **log,
    )


def _full_vector(stc, src):
    """Scatter a (possibly sparse) vector estimate onto every source point."""
    out = np.zeros((sum(s["nuse"] for s in src), 3, stc.data.shape[-1]))
    offset = row = 0
    for s, vertices in zip(src, stc.vertices, strict=True):
        idx = offset + np.searchsorted(s["vertno"], vertices)
        out[idx] = stc.data[row : row + len(vertices)]
        offset, row = offset + s["nuse"], row + len(vertices)
    return out


def _score(cell, truth, est, centers, positions, config, time_s):
    method, snr, k, extent_mm, i = cell
    le, missed = metrics.localization_error(centers, est, positions)
    if np.any(est):
        nemd = metrics.normalized_emd(
            truth, est, positions, resolution=config.emd_resolution
        )
    else:  # no source found: as uninformative as a flat map
        nemd = 1.0
    return dict(
        method=method,
        snr_db=snr,
        n_sources=k,
        extent_mm=extent_mm,
        sample=i,
        nemd=nemd,
        loc_error_mm=le,
        n_missed=missed,
        dispersion_mm=metrics.spatial_dispersion(centers, est, positions),
        auc=metrics.auc(truth, est),
        nmse=metrics.nmse(truth, est),
        time_s=time_s,
    )


def write_csv(records: list[dict], fname: str | os.PathLike) -> None:
    """Write benchmark records to a CSV file."""
    with open(fname, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


_INT_FIELDS = ("n_sources", "sample", "n_missed")


def read_csv(fname: str | os.PathLike) -> list[dict]:
    """Read records written by :func:`write_csv`, with numeric fields as numbers."""
    with open(fname, newline="") as f:
        records = list(csv.DictReader(f))
    for record in records:
        for key, value in record.items():
            if key != "method":
                record[key] = int(value) if key in _INT_FIELDS else float(value)
    return records


def summary_table(records: list[dict], metric: str = "nemd") -> str:
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


REPORT_METRICS = ("nemd", "loc_error_mm", "nmse")


def write_report(
    records: list[dict], out: str | os.PathLike, name: str, *, header: str = ""
) -> None:
    """Write ``name``.csv, ``name``.md (median [IQR] tables) and PNG plots.

    Parameters
    ----------
    records : list of dict
        Output of :func:`run_benchmark`.
    out : path-like
        Folder to write into (created when missing).
    name : str
        Stem of the file names, e.g. the head model's name.
    header : str
        Markdown written above the tables (e.g. the command and the model).

    Returns
    -------
    text : str
        The markdown written to ``name``.md.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen needed
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(records, out / f"{name}.csv")
    text = [f"## {name}\n", header]
    for metric in REPORT_METRICS:
        text += [f"\n### {metric}: median [IQR]\n", summary_table(records, metric)]
        fig = plot_benchmark(records, metric, title=f"{name}: {metric}")
        fig.savefig(out / f"{name}-{metric}.png", dpi=100)
        plt.close(fig)
        text.append(f"\n![{name} {metric}]({name}-{metric}.png)\n")
    text = "\n".join(text) + "\n"
    (out / f"{name}.md").write_text(text)
    return text


def plot_benchmark(
    records: list[dict], metric: str = "nemd", *, title: str | None = None
) -> matplotlib.figure.Figure:
    """Plot ``metric`` against SNR, number of sources and extent, one line a method.

    Parameters
    ----------
    records : list of dict
        Output of :func:`run_benchmark`.
    metric : str
        Column to plot (medians, with the interquartile range shaded).
    title : str | None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (three panels).
    """
    import matplotlib.pyplot as plt

    extents = np.array([r["extent_mm"] for r in records])
    edges = np.unique(np.percentile(extents, np.linspace(0, 100, 5)))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, layout="constrained")
    methods = list(dict.fromkeys(r["method"] for r in records))
    for ax, key, label in zip(
        axes,
        ("snr_db", "n_sources", "extent_mm"),
        ("SNR (dB)", "number of sources", "mean extent (mm, binned)"),
        strict=True,
    ):
        for method in methods:
            rows = [r for r in records if r["method"] == method]
            x, q = _quartiles_by(
                rows, key, metric, edges if key == "extent_mm" else None
            )
            (line,) = ax.plot(x, q[1], marker="o", label=method)
            ax.fill_between(x, q[0], q[2], color=line.get_color(), alpha=0.15)
        ax.set(xlabel=label)
    axes[0].set(ylabel=f"{metric} (median, IQR)")
    axes[-1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def _quartiles_by(rows, key, metric, edges):
    """Quartiles of ``metric`` per value of ``key`` (or per bin of ``edges``)."""
    keys = np.array([r[key] for r in rows], float)
    values = np.array([r[metric] for r in rows], float)
    if edges is not None:
        bins = np.clip(np.digitize(keys, edges[1:-1]), 0, len(edges) - 2)
        x = (edges[:-1] + edges[1:]) / 2
        groups = [values[bins == b] for b in range(len(x))]
    else:
        x = np.unique(keys)
        groups = [values[keys == v] for v in x]
    q = np.array([np.nanpercentile(g, [25, 50, 75]) for g in groups]).T
    return x, q


def quick_config(config: BenchmarkConfig | None = None) -> BenchmarkConfig:
    """Return a reduced configuration that runs in a few minutes on 2 CPU cores."""
    config = BenchmarkConfig() if config is None else config
    return replace(config, snr_db=(5.0, 20.0), n_sources=(1, 3), n_samples=8)
