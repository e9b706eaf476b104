r"""MEG and EEG+MEG benchmark on the sample subject's own head (never trained on).

Sources simulated as the paper's Gaussian blobs in the sample subject's
7 mm volume source space, seen through its real 3-layer BEM and its own
sensors: the 306 Neuromag Vectorview MEG channels, the 60 EEG electrodes or
both. Noise is drawn from the recording's own noise covariance (SSP
projectors and the average reference applied as in the data), at 0 / 10 / 20
dB measured after whitening; every method is given that covariance. PIUNet
beside MNE's eLORETA and dSPM, 1 / 2 / 3 / 5 / 10 sources. ``--sensors grad``
or ``mag``: one kind of MEG sensor alone (a subset of the array)::

    MNE_PIUNET_TESTING_DATA=../shared/data \\
        python benchmarks/meg_sample.py --out doc/benchmark-meg
"""

import argparse
import warnings

import mne

from mne_piunet.benchmark import BenchmarkConfig, run_benchmark, write_report
from mne_piunet.datasets import load_sample_head

MEG, BOTH, EEG = dict(meg=True, eeg=False), dict(meg=True, eeg=True), dict(eeg=True)
SENSORS = {"meg": MEG, "eeg-meg": BOTH, "eeg": EEG, "grad": MEG, "mag": MEG}
SUBSETS = ("grad", "mag")  # one kind of the MEG array's sensors


def _sensors(name):
    """Return the sample head's forward, info and noise covariance for ``name``."""
    head = load_sample_head(**SENSORS[name])
    forward, info = head.forward, head.evoked.info
    if name in SUBSETS:
        forward = mne.pick_types_forward(forward, meg=name, eeg=False)
        info = mne.pick_info(info, mne.pick_types(info, meg=name, exclude=[]))
    return forward, info, head.noise_cov


def main():
    """Run the benchmark for each set of sensors and write its report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--n-samples", type=int, default=25, help="samples per cell")
    parser.add_argument(
        "--sensors", nargs="+", default=["meg", "eeg-meg", "eeg"], choices=list(SENSORS)
    )
    parser.add_argument("--out", default="benchmark-results", help="output folder")
    args = parser.parse_args()
    # the EEG-trained model meets MEG here on purpose: that is what is measured
    warnings.filterwarnings("ignore", "The model was trained on EEG data")
    config = BenchmarkConfig(
        snr_db=(0.0, 10.0, 20.0),
        n_samples=args.n_samples,
        methods=("PIUNet", "eLORETA", "dSPM"),
    )
    for name in args.sensors:
        forward, info, noise_cov = _sensors(name)
        records = run_benchmark(
            forward, args.model, config, info=info, noise_cov=noise_cov, verbose=True
        )
        header = (
            f"`python benchmarks/meg_sample.py --sensors {name}`, model: {args.model}\n"
        )
        print(write_report(records, args.out, f"sample-{name}", header=header))


if __name__ == "__main__":
    main()
