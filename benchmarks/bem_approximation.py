"""How good is the approximated outer skull? Sample subject, real vs approximated.

The template's BEM replaces the (unavailable) fsaverage outer skull by a shell
around the inner skull. This script applies the same construction to the MNE
sample subject, whose real 3-layer BEM we have, and compares single-dipole
EEG topographies (60 digitised electrodes, 7 mm volume source space, all three
orientations) between the real and the approximated conductor:

    python benchmarks/bem_approximation.py [DATA_FOLDER]

DATA_FOLDER holds ``sample/`` (default: the MNE_PIUNET_TESTING_DATA setting).
"""

import sys

import mne
import numpy as np

from mne_piunet.datasets import testing_data_path
from mne_piunet.template import make_approx_bem


def main(data=None):
    """Print the comparison."""
    data = testing_data_path(data)
    sample = data / "sample"
    evoked = mne.read_evokeds(sample / "MEG" / "test-ave.fif.gz", condition=0)
    info = mne.pick_info(evoked.info, mne.pick_types(evoked.info, eeg=True))
    trans = sample / "MEG" / "sample-trans.fif"
    surfs = mne.read_bem_surfaces(
        sample / "subjects/sample/bem/sample-1280-1280-1280-bem.fif", verbose=False
    )
    real = mne.make_bem_solution(surfs, verbose=False)
    by_id = {s["id"]: s for s in surfs}
    approx = make_approx_bem(by_id[1], by_id[4], verbose=False)
    src = mne.setup_volume_source_space(
        "sample", pos=7.0, bem=real, subjects_dir=sample / "subjects", verbose=False
    )
    gains = []
    for bem in (real, approx):
        fwd = mne.make_forward_solution(
            info, trans, src, bem, eeg=True, meg=False, verbose=False
        )
        gain = fwd["sol"]["data"]
        gains.append(gain - gain.mean(axis=0))
    a, b = gains
    corr = np.sum(a * b, 0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
    ratio = np.linalg.norm(b, axis=0) / np.linalg.norm(a, axis=0)
    print(f"{a.shape[1] // 3} sources x 3 orientations, {a.shape[0]} electrodes")
    print(
        f"topography correlation: median {np.median(corr):.3f}, "
        f"5th percentile {np.percentile(corr, 5):.3f}, min {corr.min():.3f}"
    )
    print(
        f"amplitude ratio approx/real: median {np.median(ratio):.2f} "
        f"(IQR {np.percentile(ratio, 25):.2f}-{np.percentile(ratio, 75):.2f})"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
