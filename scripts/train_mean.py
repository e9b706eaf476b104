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
from train_real_noise import REAL_NOISE

from mne_piunet.simulation import NoiseConfig, SimulationConfig

ROOT = Path(__file__).resolve().parents[1]
MEAN = dataclasses.replace(
    REAL_NOISE,
    simulation=SimulationConfig(
        n_sources=(1, 10),
        single_source_prob=0.3,
        snr_db=(-10.0, 30.0),
        noise_only_prob=0.1,
    ),
    noise=NoiseConfig(n_covariances=32, white_prob=0.4),
    loss="l2",
    lr=1e-4,
    seed=2,
)

if __name__ == "__main__":
    train(MEAN, ROOT / "runs" / "mean", pretrained="small")
