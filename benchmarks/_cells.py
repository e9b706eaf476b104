"""What the post-hoc benchmark scripts share: their sample cells and output.

``blend_with_eloreta.py`` and ``noise_redraws.py`` score maps on the same
seeded cells as ``mne-piunet benchmark``; this module gives them the same
command-line options for those cells, the cells themselves, the methods'
amplitude maps, the scores and the CSV writer.
"""

import csv

import mne
import numpy as np

from mne_piunet import metrics
from mne_piunet._eeg import forward_eeg_info
from mne_piunet.benchmark import (
    BenchmarkConfig,
    _estimate,
    _noise_variances,
    _simulate_cell,
)
from mne_piunet.datasets import load_sample_head
from mne_piunet.template import make_template_forward


def add_cell_arguments(parser):
    """Add the options that choose the head, the model and the sample cells."""
    parser.add_argument("out", help="CSV file to write")
    parser.add_argument("--head", choices=("template", "sample"), default="sample")
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--n-sources", nargs="+", type=int, default=(1, 2, 3, 5, 10))
    parser.add_argument("--extent", nargs=2, type=float, default=(0.005, 0.040))
    parser.add_argument("--n-samples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=BenchmarkConfig.seed)


def cell_config(args):
    """Return the benchmark configuration of the parsed options."""
    return BenchmarkConfig(
        n_sources=tuple(args.n_sources),
        extent=tuple(args.extent),
        n_samples=args.n_samples,
        seed=args.seed,
    )


def head_forward(head):
    """Return the forward model of ``"sample"`` (the unseen head) or the template."""
    if head == "sample":
        return load_sample_head(verbose=False).forward
    return make_template_forward(verbose=False)


def simulated_cells(forward, config):
    """Yield each cell's sources, SNR, data, true moments and noise variances.

    The cells come in the benchmark's order of draws, so their samples are
    those of ``mne-piunet benchmark`` with the same configuration.
    """
    info = forward_eeg_info(forward)
    rng = np.random.default_rng(config.seed)
    for k in config.n_sources:
        for snr in config.snr_db:
            batch = _simulate_cell(forward, config, k, snr, rng)
            truth = batch.sources.numpy()
            noise_vars = _noise_variances(forward, info, truth, snr)
            yield k, snr, batch.sensors.numpy().T, truth, noise_vars


def amplitude_maps(method, data, forward, model, config, noise_vars):
    """Return a method's amplitude maps (n_points, n_samples), each summing to 1."""
    evoked = mne.EvokedArray(data, forward_eeg_info(forward), nave=1, verbose=False)
    estimate = _estimate(method, evoked, forward, model, config, noise_vars)
    amp = np.linalg.norm(estimate, axis=1)
    return amp / amp.sum(axis=0)


def normalized_emds(truth, maps, positions, config):
    """Return the nEMD of each named map to the truth (the flat map's EMD once)."""
    resolution = config.emd_resolution
    flat = metrics.emd(truth, np.ones(len(positions)), positions, resolution=resolution)
    return {
        key: metrics.emd(truth, m, positions, resolution=resolution) / flat
        for key, m in maps.items()
    }


def cell_records(n_sources, snr, cell):
    """Print a cell's median scores; return its records (cell and sample added)."""
    medians = {
        key: round(float(np.median([c[key] for c in cell])), 3) for key in cell[0]
    }
    print(f"{n_sources} sources, {snr:g} dB: median nEMD {medians}", flush=True)
    return [
        dict(n_sources=n_sources, snr_db=snr, sample=i) | c for i, c in enumerate(cell)
    ]


def write_records(records, fname):
    """Write one row per record, its keys as the header."""
    with open(fname, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
