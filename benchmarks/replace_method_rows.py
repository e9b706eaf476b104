"""Swap one method's rows of a benchmark report for those of another run.

The benchmark's test sets depend only on the seed, the cells and the number
of samples, so a run with ``--methods PIUNet eLORETA`` for a new model scores
the same samples as the full report. This rewrites the full report with the
new model's rows (after checking that the shared eLORETA rows agree), instead
of re-running the slow methods (LCMV, MxNE) for an hour::

    python benchmarks/replace_method_rows.py doc/benchmark doc/benchmark-new
"""

import argparse
from pathlib import Path

import numpy as np

from mne_piunet.benchmark import read_csv, write_report


def _sample_key(record):
    return record["snr_db"], record["n_sources"], record["sample"]


def replace_rows(full, new, method, check_method, atol):
    """Rows of ``full`` with ``method``'s rows taken from ``new``."""
    ref = {_sample_key(r): r for r in full if r["method"] == check_method}
    for row in new:
        if row["method"] == check_method:
            if not abs(ref[_sample_key(row)]["nemd"] - row["nemd"]) <= atol:
                raise RuntimeError(f"The test sets differ: {check_method} {row}")
    swapped = {_sample_key(r): r for r in new if r["method"] == method}
    if len(swapped) != sum(r["method"] == method for r in full):
        raise RuntimeError(f"The runs have different numbers of {method} rows")
    return [swapped[_sample_key(r)] if r["method"] == method else r for r in full]


def main():
    """Rewrite every report of the new run's folder into the full one."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("full", type=Path, help="report folder to rewrite")
    parser.add_argument("new", type=Path, help="folder of the new run")
    parser.add_argument("--method", default="PIUNet")
    parser.add_argument("--check-method", default="eLORETA")
    parser.add_argument("--atol", type=float, default=0.01, help="nEMD tolerance")
    parser.add_argument("--header", default="", help="markdown above the tables")
    args = parser.parse_args()
    for csv_file in sorted(args.new.glob("*.csv")):
        name = csv_file.stem
        full = read_csv(args.full / csv_file.name)
        rows = replace_rows(
            full, read_csv(csv_file), args.method, args.check_method, args.atol
        )
        write_report(rows, args.full, name, header=args.header + "\n")
        nemd = [r["nemd"] for r in rows if r["method"] == args.method]
        print(f"{name}: {args.method} median nEMD {np.median(nemd):.3f}")


if __name__ == "__main__":
    main()
