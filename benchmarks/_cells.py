"""What the post-hoc benchmark scripts share: their sample cells and output.

``blend_with_eloreta.py`` and ``noise_redraws.py`` score maps on the same
seeded cells as ``mne-piunet benchmark``; this module gives them the same
command-line options for those cells, the head's forward model and the CSV
writer.
"""

import csv

from mne_piunet.benchmark import BenchmarkConfig
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


def write_records(records, fname):
    """Write one row per record, its keys as the header."""
    with open(fname, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
