"""Train a wider CPU model (base 16 channels, 1.8 M parameters) on the template.

Same training distribution and validation set as ``train_default.py``; only
the network is wider (4x the parameters for about 2x the time per step), to
see whether capacity limits the default model on multiple sources. Run from
the repository root; resumes from runs/wide/checkpoint.pt:

    python scripts/train_wide.py --time-limit 5000
"""

import dataclasses
from pathlib import Path

from train_default import CONFIG, train

from mne_piunet import UNetConfig

ROOT = Path(__file__).resolve().parents[1]
WIDE = dataclasses.replace(
    CONFIG,
    network=UNetConfig(base_channels=16, num_res_blocks=1, num_groups=8, num_heads=2),
)

if __name__ == "__main__":
    train(WIDE, ROOT / "runs" / "wide")
