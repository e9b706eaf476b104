"""Fine-tune the default on an even mix of white and coloured noise.

The "small" model (``train_real_noise.py``) traded single-source accuracy
on white-noise data for real recordings (75 % of its batches had coloured
noise). This run starts from it and trains on half white-noise batches with
30 % single sources, same SNR range, noise-only samples and fitted
amplitudes, L1 loss, bfloat16 autocast where the CPU has it. Run from the
repository root; resumes from runs/mixed-noise/checkpoint.pt:

    python scripts/train_mixed_noise.py --time-limit 4200 --threads 1
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_real_noise import REAL_NOISE

from mne_piunet.simulation import NoiseConfig, SimulationConfig

ROOT = Path(__file__).resolve().parents[1]
MIXED_NOISE = dataclasses.replace(
    REAL_NOISE,
    simulation=SimulationConfig(
        n_sources=(1, 5),
        single_source_prob=0.3,
        snr_db=(-10.0, 30.0),
        noise_only_prob=0.1,
    ),
    noise=NoiseConfig(n_covariances=32, white_prob=0.5),
    lr=1e-4,
    n_steps=40_000,
    seed=2,
)

if __name__ == "__main__":
    train(MIXED_NOISE, ROOT / "runs" / "mixed-noise", pretrained="small")
