"""Fine-tune the default model's first stage on random montages and lambda2.

Every step keeps 32 to 61 of the template's electrodes and a lambda2 in
[1/16, 1/4] (see ``TrainConfig.n_channels`` / ``lambda2_range``); validation
stays on the full standard montage at lambda2 = 1/9, so the log shows what the
robustness costs there. Run from the repository root; resumes from
runs/robust/checkpoint.pt:

    python scripts/train_robust.py --time-limit 4200
"""

import dataclasses
from pathlib import Path

from train_default import CONFIG, train

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
    # the first stage of the default model (step 4,400), the default back then
    first_stage = ROOT / "runs" / "default" / "model.safetensors"
    train(ROBUST, ROOT / "runs" / "robust", pretrained=first_stage)
