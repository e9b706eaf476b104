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

BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)


def blend_scores(forward, model, config, powers=(1.0,)):
    """Return one record per sample: its cell and the nEMD of every mix."""
    positions = forward_source_positions(forward)
    records = []
    for k, snr, data, truth, noise_vars in simulated_cells(forward, config):
        piunet, eloreta = (
            amplitude_maps(method, data, forward, model, config, noise_vars)
            for method in ("PIUNet", "eLORETA")
        )
        cell = [
            normalized_emds(
                truth[i], _mixes(piunet[:, i], eloreta[:, i], powers), positions, config
            )
            for i in range(config.n_samples)
        ]
        records += cell_records(k, snr, cell)
    return records


def _mixes(piunet, eloreta, powers):
    """Return each power's and share's mix of two maps, by column."""
    mixes = {}
    for power in powers:
        sharpened = piunet**power / (piunet**power).sum()
        prefix = "" if power == 1 else f"power{power:g}_"
        for b in BLENDS[:-1]:
            mixes[f"{prefix}blend{b}"] = (1 - b) * sharpened + b * eloreta
    mixes[f"blend{BLENDS[-1]}"] = eloreta  # the last share, whatever the power
    return mixes


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
