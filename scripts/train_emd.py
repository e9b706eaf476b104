"""Fine-tune the default towards the earth mover's distance, 1 to 10 sources.

Starts from the "small" model and keeps its real-recording training
(coloured-noise pool, SNR -10 to 30 dB, noise-only samples, fitted
amplitudes) but adds to the L1 loss a multi-scale surrogate of the earth
mover's distance (``TrainConfig.pooled_scales``), draws 1 to 10 sources (a
third single sources) and runs the network passes under bfloat16 autocast
where the CPU supports it. Run from the repository root; resumes from
runs/emd/checkpoint.pt:

    python scripts/train_emd.py --time-limit 3600 --threads 1
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_real_noise import REAL_NOISE

from mne_piunet.simulation import NoiseConfig, SimulationConfig

ROOT = Path(__file__).resolve().parents[1]
EMD = dataclasses.replace(
    REAL_NOISE,
    simulation=SimulationConfig(
        n_sources=(1, 10),
        single_source_prob=0.3,
        snr_db=(-10.0, 30.0),
        noise_only_prob=0.1,
    ),
    noise=NoiseConfig(n_covariances=32, white_prob=0.4),
    pooled_scales=(2, 4, 8),
    lr=1e-4,
    seed=1,
)

if __name__ == "__main__":
    train(EMD, ROOT / "runs" / "emd", pretrained="small")
