"""Default vs montage-robust model on fewer electrodes and another lambda2.

Template head; test sets of the benchmark (SNR 5 and 20 dB, 1 and 3 sources)
simulated on the full 61-electrode montage, on seeded random subsets of 48 and
32 electrodes, and on the full montage with lambda2 = 1/4 instead of 1/9.

    python benchmarks/montage_robustness.py --robust robust

Writes a markdown report (median [IQR] normalised EMD and localisation error).
"""

import argparse
import dataclasses
from pathlib import Path

import mne
import numpy as np

from mne_piunet import read_model
from mne_piunet.benchmark import BenchmarkConfig, run_benchmark, summary_table
from mne_piunet.template import make_template_forward


def _subset(forward, n_channels, seed):
    names = forward["info"]["ch_names"]
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(len(names), n_channels, replace=False))
    return mne.pick_channels_forward(
        forward, [names[i] for i in keep], ordered=True, verbose=False
    )


def _run(forward, models, config):
    """PIUNet for every model (labelled by name) plus eLORETA, on one test set."""
    records = []
    for label, model in models.items():
        methods = ("PIUNet", "eLORETA") if not records else ("PIUNet",)
        cfg = dataclasses.replace(config, methods=methods)
        for r in run_benchmark(forward, model, cfg, verbose=False):
            if r["method"] == "PIUNet":
                r["method"] = f"PIUNet {label}"
            records.append(r)
    return records


def main():
    """Run every condition and write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robust", default="robust", help="robust model name or file")
    parser.add_argument("--n-samples", type=int, default=10)
    parser.add_argument("--out", default="doc/robustness_results.md")
    args = parser.parse_args()
    models = {"default": read_model("default"), "robust": read_model(args.robust)}
    fwd = make_template_forward(verbose=False)
    config = BenchmarkConfig(
        snr_db=(5.0, 20.0), n_sources=(1, 3), n_samples=args.n_samples
    )
    conditions = {
        "61 electrodes (standard montage), lambda2 = 1/9": (fwd, config),
        "48 random electrodes, lambda2 = 1/9": (_subset(fwd, 48, 1), config),
        "32 random electrodes, lambda2 = 1/9": (_subset(fwd, 32, 2), config),
        "61 electrodes, lambda2 = 1/4": (
            fwd,
            dataclasses.replace(config, lambda2=0.25),
        ),
    }
    command = "python benchmarks/montage_robustness.py"
    lines = [f"`{command} --robust {args.robust} --n-samples {args.n_samples}`"]
    for title, (forward, cfg) in mne.utils.ProgressBar(
        conditions.items(), mesg="conditions"
    ):
        records = _run(forward, models, cfg)
        for metric in ("nemd", "loc_error_mm"):
            lines += [f"\n### {title}: {metric}, median [IQR]\n"]
            lines += [summary_table(records, metric)]
    report = "\n".join(lines) + "\n"
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
