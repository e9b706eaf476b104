"""Stage 2 of the large-model campaign: fine-tune with fitted amplitudes.

Starts from stage 1 (``train_large.py``; its best weights, written to
training/large/model.safetensors when a stage-1 run ends) and trains the
loss on moments whose amplitudes are fitted to the whitened data, the refine
rule of ``apply_piunet`` (as the 0.44 M default's last stage), on stage 1's
distribution (1 to 15 sources, coloured noise, SNR -10 to 30 dB, baselines)
with a lower learning rate. Resumes from runs/large-fit/checkpoint.pt.
Run from the repository root:

    python scripts/train_large_fit.py --time-limit 3600 --threads 2

Measured at 3,000 steps (documentation, *Benchmarks > A larger network*):
better with 10 simulated sources than stage 1, but it loses the real
left-visual sample response, so it is not shipped.
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_large import LARGE

ROOT = Path(__file__).resolve().parents[1]
LARGE_FIT = dataclasses.replace(
    LARGE,
    amplitude="fit",
    lr=2.5e-4,
    n_steps=20_000,
    val_every=250,
    patience=4,
    seed=4,
)

if __name__ == "__main__":
    train(
        LARGE_FIT,
        ROOT / "runs" / "large-fit",
        pretrained=ROOT / "training" / "large" / "model.safetensors",
    )
