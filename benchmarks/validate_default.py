"""Validation report of the default model: PIUNet vs eLORETA on seeded test sets.

    python benchmarks/validate_default.py [--n-samples 15] [--out doc/validation]

Test sets (seed 12345, never used in training, which uses seeds 0 and
10000): the paper's Gaussian blobs at SNR 0, 5, 10, 20 dB with 1, 3, 5, 10
sources on the template head, and with 1 and 3 sources on a head the network
never saw (the MNE sample subject's real 3-layer BEM, its 60 digitised
electrodes, 7 mm volume grid), when the offline sample data are present.
"""

import argparse
from pathlib import Path

import mne

from mne_piunet.benchmark import (
    BenchmarkConfig,
    run_benchmark,
    summary_table,
    write_csv,
)
from mne_piunet.datasets import testing_data_path
from mne_piunet.template import make_template_forward


def sample_forward(data):
    """7 mm volume EEG forward of the sample subject (real 3-layer BEM)."""
    sample = data / "sample"
    evoked = mne.read_evokeds(sample / "MEG" / "test-ave.fif.gz", condition=0)
    info = mne.pick_info(evoked.info, mne.pick_types(evoked.info, eeg=True))
    surfs = mne.read_bem_surfaces(
        sample / "subjects/sample/bem/sample-1280-1280-1280-bem.fif"
    )
    bem = mne.make_bem_solution(surfs)
    src = mne.setup_volume_source_space(
        "sample", pos=7.0, bem=bem, subjects_dir=sample / "subjects"
    )
    trans = sample / "MEG" / "sample-trans.fif"
    return mne.make_forward_solution(info, trans, src, bem, eeg=True, meg=False)


def report(name, fwd, config, out):
    """Run one head model and write its CSV and markdown tables."""
    records = run_benchmark(fwd, None, config, verbose=True)
    write_csv(records, out / f"{name}.csv")
    text = [f"## {name}\n"]
    for metric in ("nemd", "loc_error_mm", "nmse"):
        text += [f"\n### {metric}: median [IQR]\n", summary_table(records, metric)]
    (out / f"{name}.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


def main():
    """Run the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-samples", type=int, default=15)
    parser.add_argument("--out", default="doc/validation")
    args = parser.parse_args()
    mne.set_log_level("warning")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = BenchmarkConfig(n_samples=args.n_samples)
    report("template", make_template_forward(), config, out)
    data = testing_data_path()
    if data is not None:
        config = BenchmarkConfig(n_samples=args.n_samples, n_sources=(1, 3))
        report("sample-head", sample_forward(data), config, out)


if __name__ == "__main__":
    main()
