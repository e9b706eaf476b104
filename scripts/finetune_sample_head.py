"""Fine-tune the small model on one subject's head model (per-subject workflow).

What a user with their own MRI-based forward can do: start from the
``"small"`` model (the default ensemble's first member; an ensemble is not
fine-tuned as a whole) and train on sources simulated through *their* forward (same
training distribution as the default's last stage: 1 to 5 sources, coloured
noise, SNR -10 to 30 dB, fitted amplitudes), for a fixed time budget. Here
the subject is the MNE sample subject (real 3-layer BEM, 60 digitised
electrodes, 7 mm volume), which the default never saw. Run from the
repository root (needs ``MNE_PIUNET_TESTING_DATA``); writes
runs/sample-head/model.safetensors:

    python scripts/finetune_sample_head.py --time-limit 900 --threads 2

Compare with the default on the sample head (same seeded test sets):

    mne-piunet benchmark --model runs/sample-head/model.safetensors
        --n-sources 1 3 --n-samples 50 --methods PIUNet --out runs/sample-head
"""

import argparse
import dataclasses
from pathlib import Path

import torch
from train_real_noise import REAL_NOISE

from mne_piunet import read_model
from mne_piunet.datasets import load_sample_head
from mne_piunet.simulation import NoiseConfig
from mne_piunet.training import train_model

ROOT = Path(__file__).resolve().parents[1]


def finetune_config(pretrained, **changes):
    """Return the short fine-tuning configuration of a pretrained model."""
    return dataclasses.replace(
        REAL_NOISE,
        grid_shape=pretrained.grid.shape,  # the pretrained network's grid
        noise=NoiseConfig(n_covariances=8),  # fewer kernels: a short run
        lr=1e-4,
        val_samples=64,
        seed=7,
        **changes,
    )


def main():
    """Fine-tune for ``--time-limit`` seconds and save the model."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=900.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=ROOT / "runs" / "sample-head")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    small = read_model("small")
    config = finetune_config(small, n_steps=100_000)  # the time limit ends it
    head = load_sample_head(spacing=0.007)
    model = train_model(
        head.forward,
        config,
        pretrained=small,
        checkpoint_dir=Path(args.out),
        time_limit=args.time_limit,
        verbose=True,
    )
    model.save(Path(args.out) / "model.safetensors", overwrite=True)


if __name__ == "__main__":
    main()
