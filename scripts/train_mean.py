"""Fine-tune the "small" model with a squared error, 1 to 10 sources.

The L1 loss teaches the network the per-point median of the maps the data
allow, which stays focal where the sources' places are uncertain (many
sources, low SNR); the squared error (``TrainConfig(loss="l2")``) teaches
their mean, which spreads the amplitude the way the earth mover's distance
rewards. Keeps the small model's real-recording training (coloured-noise
pool, SNR -10 to 30 dB, noise-only samples, fitted amplitudes) with 1 to 10
sources (a third single sources). Run from the repository root; resumes
from runs/mean/checkpoint.pt:

    python scripts/train_mean.py --time-limit 3600
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_emd import EMD

ROOT = Path(__file__).resolve().parents[1]
# train_emd.py's samples (1 to 10 sources, a third single) and learning rate
MEAN = dataclasses.replace(EMD, pooled_scales=(), loss="l2", seed=2)

if __name__ == "__main__":
    train(MEAN, ROOT / "runs" / "mean", pretrained="small")
