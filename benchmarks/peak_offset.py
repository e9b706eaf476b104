"""Where a single source's map maximum lands: depth offsets from the centre.

For single blobs on the template head (the benchmark's cells), the offset
of each method's maximum from the true centre, split into its distance and
its radial part (the maximum's distance from the source space's centroid
minus the centre's: positive means farther out). Prints medians::

    python benchmarks/peak_offset.py --extent 0.005 0.015
    python benchmarks/peak_offset.py --extent 0.010 0.030
"""

import argparse

import mne
import numpy as np

from mne_piunet._eeg import forward_eeg_info
from mne_piunet._grid import forward_source_positions
from mne_piunet.benchmark import (
    BenchmarkConfig,
    _estimate,
    _noise_variances,
    _simulate_cell,
)
from mne_piunet.template import make_template_forward


def peak_offsets(forward, model, config, snr, rng):
    """Distance and radial offset (mm) of each method's maximum, per sample.

    One cell of single sources is simulated and inverted by each method.
    """
    positions = forward_source_positions(forward)
    info = forward_eeg_info(forward)
    batch = _simulate_cell(forward, config, 1, snr, rng)
    evoked = mne.EvokedArray(batch.sensors.numpy().T, info, tmin=0.0, nave=1)
    noise_vars = _noise_variances(forward, info, batch.sources.numpy(), snr)
    centers = positions[batch.centers[:, 0].numpy().astype(int)]
    centroid = positions.mean(axis=0)
    offsets = {}
    for method in ("PIUNet", "eLORETA"):
        est = _estimate(method, evoked, forward, model, config, noise_vars)
        peaks = positions[np.linalg.norm(est, axis=1).argmax(axis=0)]
        radial = np.linalg.norm(peaks - centroid, axis=1) - np.linalg.norm(
            centers - centroid, axis=1
        )
        offsets[method] = 1e3 * np.linalg.norm(peaks - centers, axis=1), 1e3 * radial
    return offsets


def main():
    """Print the median offsets of each SNR, 3D-PIUNet and eLORETA."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--extent", nargs=2, type=float, default=(0.005, 0.015))
    parser.add_argument("--snr-db", nargs="+", type=float, default=(20.0, 30.0))
    parser.add_argument("--n-samples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    forward = make_template_forward("easycap-M10", 0.007, verbose=False)
    config = BenchmarkConfig(n_samples=args.n_samples, extent=tuple(args.extent))
    rng = np.random.default_rng(args.seed)
    print("| SNR (dB) | method | distance (mm) | radial offset (mm) |")
    print("|---|---|---|---|")
    for snr in args.snr_db:
        offsets = peak_offsets(forward, args.model, config, snr, rng)
        for method, (dist, radial) in offsets.items():
            print(
                f"| {snr:g} | {method} | {np.median(dist):.1f} | "
                f"{np.median(radial):+.1f} |"
            )


if __name__ == "__main__":
    main()
