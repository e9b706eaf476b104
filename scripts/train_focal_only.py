"""Diagnostic: fine-tune the default on focal single sources at high SNR only.

One source of 5-15 mm (standard deviation), 10-30 dB, with the default's
noise (``train_real_noise.py``: coloured covariances, fitted amplitudes) and
a constant learning rate. It shows that the network can put a focal
source's maximum on the right voxel (*Focal sources* in the benchmarks
page); it is not a model to use (it never saw several sources or
baselines). Run from the repository root; resumes from
runs/focal-only/checkpoint.pt:

    python scripts/train_focal_only.py --time-limit 1800 --threads 1
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_focus import FOCUS
from train_real_noise import REAL_NOISE

ROOT = Path(__file__).resolve().parents[1]
FOCAL_ONLY = dataclasses.replace(
    REAL_NOISE,
    simulation=dataclasses.replace(FOCUS.focus, noise_only_prob=0.0),
    lr=1e-4,
    val_every=300,
    patience=100,  # a constant rate
    seed=11,
)

if __name__ == "__main__":
    train(FOCAL_ONLY, ROOT / "runs" / "focal-only", pretrained="small")
