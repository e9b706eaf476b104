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

import numpy as np
from _cells import (
    add_cell_arguments,
    amplitude_maps,
    cell_config,
    cell_records,
    head_forward,
    normalized_emds,
    simulated_cells,
    write_records,
)

from mne_piunet._grid import forward_source_positions


def redraw_scores(forward, model, config, scales, n_draws, noise_seed=0):
    """Return one record per sample: its cell and the nEMD of every map."""
    positions = forward_source_positions(forward)
    noise_rng = np.random.default_rng(noise_seed)
    records = []
    for k, snr, data, truth, noise_vars in simulated_cells(forward, config):
        cell_args = (forward, model, config, noise_vars)
        maps = {"redraw0": amplitude_maps("PIUNet", data, *cell_args)}
        for scale in scales:
            draws = [
                amplitude_maps("PIUNet", data + extra, *cell_args)
                for extra in _noise(noise_rng, data.shape, noise_vars, scale, n_draws)
            ]
            maps[f"redraw{scale:g}"] = np.mean(draws, axis=0)
        maps["eLORETA"] = amplitude_maps("eLORETA", data, *cell_args)
        cell = [
            normalized_emds(
                truth[i], {key: m[:, i] for key, m in maps.items()}, positions, config
            )
            for i in range(config.n_samples)
        ]
        records += cell_records(k, snr, cell)
    return records


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
