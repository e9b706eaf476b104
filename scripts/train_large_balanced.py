"""Fine-tune the large model with focal sources weighed like wide ones.

Every fine-tune of the 0.44 M-parameter default that moved a focal
source's maximum onto the source (``train_balanced.py``: ``loss_norm="mass"``
or ``"geometric"`` with 30 % focal batches) took accuracy from five and ten
sources (*Focal sources* in the benchmarks page). This is the same recipe
(``loss_norm="mass"``, 30 % of the batches focal single sources) on the
1.8 M-parameter ``model="large"``, on its own training distribution (1 to 15
sources, coloured noise, SNR -10 to 30 dB), to see whether a larger network
keeps both. About 2 steps/s on 2 CPU cores, 25 on an NVIDIA H200
(``--device cuda``). It ran a session at a time, resuming from a checkpoint
in training/large-balanced/ (as it will again if one is put there). The run
ended at step 17,000; its best weights (step 16,500), the default's second
member and the start of ``train_large_pool.py``, are kept there as
model.safetensors and the checkpoint is gone. Run from the repository root:

    python scripts/train_large_balanced.py --time-limit 3600 --threads 2
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_focus import FOCUS
from train_large import LARGE

ROOT = Path(__file__).resolve().parents[1]
LARGE_BALANCED = dataclasses.replace(
    LARGE,
    loss_norm="mass",
    focus=FOCUS.focus,
    focus_prob=FOCUS.focus_prob,
    lr=1e-4,
    val_every=500,
    patience=5,
    seed=19,
)

if __name__ == "__main__":
    train(LARGE_BALANCED, ROOT / "training" / "large-balanced", pretrained="large")
