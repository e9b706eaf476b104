r"""3D-PIUNet's maps blended with eLORETA's, several shares at once.

On the benchmark's own samples (the same seeded cells as ``mne-piunet
benchmark``), each sample's 3D-PIUNet and eLORETA estimates are reduced to
amplitude maps, each divided by its sum, and mixed as ``(1 - b) * PIUNet +
b * eLORETA``: what ``apply_piunet(..., blend=b)`` returns, for every share
``b`` from one network run (``b = 0`` is 3D-PIUNet's score, ``b = 1``
eLORETA's). Writes the per-sample normalised EMD of every share to ``OUT``
(CSV) and prints the median of each cell::

    python benchmarks/blend_with_eloreta.py blend-full.csv --head sample
    python benchmarks/blend_with_eloreta.py blend-heldout.csv --head sample \\
        --extent 0.010 0.030 --seed 16 --n-samples 20

``--powers`` also sharpens (``p > 1``) or flattens (``p < 1``) 3D-PIUNet's
map before the mix: its amplitudes raised to ``p``, again summing to one
(columns ``power{p}_blend{b}``; ``p = 1`` keeps the columns ``blend{b}``).
"""

import argparse

import mne
import numpy as np
from _cells import add_cell_arguments, cell_config, head_forward, write_records

from mne_piunet import metrics
from mne_piunet._eeg import forward_eeg_info
from mne_piunet._grid import forward_source_positions
from mne_piunet.benchmark import (
    _estimate,
    _noise_variances,
    _simulate_cell,
)

BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)


def blend_scores(forward, model, config, powers=(1.0,)):
    """Return one record per sample: its cell and the nEMD of every mix."""
    positions = forward_source_positions(forward)
    info = forward_eeg_info(forward)
    rng = np.random.default_rng(config.seed)  # the benchmark's order of draws
    records = []
    for k in config.n_sources:
        for snr in config.snr_db:
            batch = _simulate_cell(forward, config, k, snr, rng)
            evoked = mne.EvokedArray(batch.sensors.numpy().T, info, nave=1)
            truth = batch.sources.numpy()
            noise_vars = _noise_variances(forward, info, truth, snr)
            maps = [
                _sum_one(_estimate(m, evoked, forward, model, config, noise_vars))
                for m in ("PIUNet", "eLORETA")
            ]
            cell = [
                _blends(
                    truth[i], maps[0][:, i], maps[1][:, i], positions, config, powers
                )
                for i in range(config.n_samples)
            ]
            medians = {
                key: round(float(np.median([c[key] for c in cell])), 3)
                for key in cell[0]
            }
            print(f"{k} sources, {snr:g} dB: median nEMD {medians}", flush=True)
            records += [
                dict(n_sources=k, snr_db=snr, sample=i) | c for i, c in enumerate(cell)
            ]
    return records


def _sum_one(estimate):
    """Amplitude maps (n_points, n_samples) of a vector estimate, each summing to 1."""
    amp = np.linalg.norm(estimate, axis=1)
    return amp / amp.sum(axis=0)


def _blends(truth, piunet, eloreta, positions, config, powers):
    """Return the nEMD of each power's and share's mix of two maps, by column."""
    # the flat map's EMD, once per sample: what normalized_emd divides by
    flat = metrics.emd(
        truth, np.ones(len(positions)), positions, resolution=config.emd_resolution
    )
    scores = {}
    for power in powers:
        sharpened = piunet**power / (piunet**power).sum()
        prefix = "" if power == 1 else f"power{power:g}_"
        for b in BLENDS[:-1]:
            mixed = (1 - b) * sharpened + b * eloreta
            emd = metrics.emd(truth, mixed, positions, resolution=config.emd_resolution)
            scores[f"{prefix}blend{b}"] = emd / flat
    # the last share is eLORETA's map alone, whatever the power
    emd = metrics.emd(truth, eloreta, positions, resolution=config.emd_resolution)
    scores[f"blend{BLENDS[-1]}"] = emd / flat
    return scores


def main():
    """Score the blends of one head and write them to a CSV file."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_cell_arguments(parser)
    parser.add_argument("--powers", nargs="+", type=float, default=(1.0,))
    args = parser.parse_args()
    records = blend_scores(
        head_forward(args.head), args.model, cell_config(args), tuple(args.powers)
    )
    write_records(records, args.out)


if __name__ == "__main__":
    main()
