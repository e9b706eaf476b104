r"""3D-PIUNet's maps averaged over fresh noise added to the data.

A hedge that adapts to the data: each sample is refined again ``--draws``
times with new white noise of ``s`` times its own noise level added, and
the amplitude maps (each summing to one) are averaged. Where the data pin
the sources down the maps stay put; where they do not (many sources, low
SNR) the network's focal guesses move from draw to draw and their mean
spreads. On the benchmark's own samples (the same seeded cells as
``mne-piunet benchmark``; the extra noise comes from a generator of its
own), writes the per-sample normalised EMD of 3D-PIUNet's map
(``redraw0``), of each scale's mean map (``redraw{s}``) and of eLORETA's
map to ``OUT`` (CSV) and prints the median of each cell::

    python benchmarks/noise_redraws.py redraws-heldout.csv --head sample \\
        --extent 0.010 0.030 --seed 16 --n-samples 20 --scales 0.5 1
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


def redraw_scores(forward, model, config, scales, n_draws, noise_seed=0):
    """Return one record per sample: its cell and the nEMD of every map."""
    positions = forward_source_positions(forward)
    info = forward_eeg_info(forward)
    rng = np.random.default_rng(config.seed)  # the benchmark's order of draws
    noise_rng = np.random.default_rng(noise_seed)
    records = []
    for k in config.n_sources:
        for snr in config.snr_db:
            batch = _simulate_cell(forward, config, k, snr, rng)
            data, truth = batch.sensors.numpy().T, batch.sources.numpy()
            noise_vars = _noise_variances(forward, info, truth, snr)
            cell_args = (info, forward, model, config, noise_vars)
            maps = {"redraw0": _amplitude_maps("PIUNet", data, *cell_args)}
            for scale in scales:
                draws = [
                    _amplitude_maps("PIUNet", data + extra, *cell_args)
                    for extra in _noise(
                        noise_rng, data.shape, noise_vars, scale, n_draws
                    )
                ]
                maps[f"redraw{scale:g}"] = np.mean(draws, axis=0)
            maps["eLORETA"] = _amplitude_maps("eLORETA", data, *cell_args)
            cell = [
                {
                    key: metrics.normalized_emd(
                        truth[i], m[:, i], positions, resolution=config.emd_resolution
                    )
                    for key, m in maps.items()
                }
                for i in range(config.n_samples)
            ]
            medians = {
                key: round(float(np.median([c[key] for c in cell])), 3) for key in maps
            }
            print(f"{k} sources, {snr:g} dB: median nEMD {medians}", flush=True)
            records += [
                dict(n_sources=k, snr_db=snr, sample=i) | c for i, c in enumerate(cell)
            ]
    return records


def _amplitude_maps(method, data, info, forward, model, config, noise_vars):
    """One method's amplitude maps (n_points, n_samples), each summing to one."""
    evoked = mne.EvokedArray(data, info, nave=1, verbose=False)
    estimate = _estimate(method, evoked, forward, model, config, noise_vars)
    amp = np.linalg.norm(estimate, axis=1)
    return amp / amp.sum(axis=0)


def _noise(rng, shape, noise_vars, scale, n_draws):
    """``n_draws`` white noises (n_channels, n_samples) at ``scale`` x each sd."""
    for _ in range(n_draws):
        noise = rng.standard_normal(shape) * np.sqrt(noise_vars) * scale
        yield noise - noise.mean(axis=0)  # average-referenced, as the data are


def main():
    """Score the re-drawn maps of one head and write them to a CSV file."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_cell_arguments(parser)
    parser.add_argument("--scales", nargs="+", type=float, default=(0.5, 1.0))
    parser.add_argument("--draws", type=int, default=8)
    args = parser.parse_args()
    records = redraw_scores(
        head_forward(args.head), args.model, cell_config(args), args.scales, args.draws
    )
    write_records(records, args.out)


if __name__ == "__main__":
    main()
