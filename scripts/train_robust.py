"""Fine-tune the default model on random montages and lambda2 values.

Every step keeps 32 to 61 of the template's electrodes and a lambda2 in
[1/16, 1/4] (see ``TrainConfig.n_channels`` / ``lambda2_range``); validation
stays on the full standard montage at lambda2 = 1/9, so the log shows what the
robustness costs there. Run from the repository root; resumes from
training/robust/checkpoint.pt:

    python scripts/train_robust.py --time-limit 4200
"""

import argparse
import dataclasses
from pathlib import Path

import torch
from train_default import CONFIG

from mne_piunet.template import make_template_forward
from mne_piunet.training import train_model

ROOT = Path(__file__).resolve().parents[1]
ROBUST = dataclasses.replace(
    CONFIG,
    n_channels=(32, 61),
    lambda2_range=(1 / 16, 1 / 4),
    n_kernels=32,
    lr=2.5e-4,
    n_steps=6000,
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument(
        "--out", default=ROOT / "training" / "robust" / "model.safetensors"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    fwd = make_template_forward("easycap-M10", 0.007)
    model = train_model(
        fwd,
        ROBUST,
        pretrained="default",
        device="cpu",
        checkpoint_dir=ROOT / "training" / "robust",
        resume=True,
        time_limit=args.time_limit,
        verbose=True,
    )
    model.save(args.out, overwrite=True)
