"""Fine-tune the default with every sample's error relative to its own size.

Under the default's loss each sample's L1 error is divided by its largest
true moment, so a focal single source (a handful of non-zero points) weighs
about a hundredth of ten wide ones, and the network never learned where a
focal source's maximum lies (*Focal sources* in the benchmarks page). This
run keeps the default's distribution (``train_real_noise.py``) and divides
each sample's error by its mean moment magnitude instead
(``TrainConfig.loss_norm="mass"``). ``--focus`` also draws 30 % of the
batches from focal single sources (``train_focus.py``'s). Run from the
repository root; resumes from runs/balanced[-focus]/checkpoint.pt:

    python scripts/train_balanced.py --time-limit 5400 --threads 1
"""

import dataclasses
import sys
from pathlib import Path

from train_default import train
from train_focus import FOCUS
from train_real_noise import REAL_NOISE

ROOT = Path(__file__).resolve().parents[1]
BALANCED = dataclasses.replace(
    REAL_NOISE,
    loss_norm="mass",
    lr=1e-4,
    val_every=300,
    patience=5,
    seed=13,
)
BALANCED_FOCUS = dataclasses.replace(
    BALANCED, focus=FOCUS.focus, focus_prob=FOCUS.focus_prob, seed=14
)

if __name__ == "__main__":
    focus = "--focus" in sys.argv
    if focus:
        sys.argv.remove("--focus")
    train(
        BALANCED_FOCUS if focus else BALANCED,
        ROOT / "runs" / ("balanced-focus" if focus else "balanced"),
        pretrained="default",
    )
