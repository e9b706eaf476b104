"""Cortex benchmark on a perturbed template: a head the model was not trained on.

The fsaverage cortex as ``mne-piunet benchmark --source-space surface`` uses
it, but with the differences an unseen head brings: another montage
(BioSemi 64 instead of easycap-M10) with every electrode moved by a random
3 mm per axis before it is projected onto the scalp, a skull conductivity of
0.0042 instead of 0.006 S/m (brain and scalp 0.33 instead of 0.3) and a
skull 6 instead of 7 mm thick. Cortical patches of 1 to 10 cm², 1 / 2 / 3 /
5 patches, 0 to 30 dB, PIUNet next to eLORETA::

    python benchmarks/perturbed_cortex.py --out doc/benchmark-cortex
"""

import argparse

import mne
import numpy as np

from mne_piunet.benchmark import BenchmarkConfig, run_benchmark, write_report
from mne_piunet.template import make_template_forward


def perturbed_montage(name="biosemi64", jitter=0.003, seed=5):
    """Return a standard montage with each electrode moved at random."""
    montage = mne.channels.make_standard_montage(name)
    pos = montage.get_positions()
    rng = np.random.default_rng(seed)
    ch_pos = {ch: xyz + rng.normal(0, jitter, 3) for ch, xyz in pos["ch_pos"].items()}
    return mne.channels.make_dig_montage(
        ch_pos=ch_pos,
        nasion=pos["nasion"],
        lpa=pos["lpa"],
        rpa=pos["rpa"],
        coord_frame=pos["coord_frame"],
    )


def main():
    """Build the perturbed forward (cached) and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--n-samples", type=int, default=50, help="samples per cell")
    parser.add_argument("--out", default="benchmark-results", help="output folder")
    args = parser.parse_args()
    forward = make_template_forward(
        perturbed_montage(),
        source_space="surface",
        conductivity=(0.33, 0.0042, 0.33),
        skull_thickness=0.006,
    )
    config = BenchmarkConfig(
        sources="patches",
        n_sources=(1, 2, 3, 5),
        n_samples=args.n_samples,
        methods=("PIUNet", "eLORETA"),
    )
    records = run_benchmark(forward, args.model, config, verbose=True)
    header = f"`python benchmarks/perturbed_cortex.py`, model: {args.model}\n"
    print(write_report(records, args.out, "perturbed-cortex", header=header))


if __name__ == "__main__":
    main()
