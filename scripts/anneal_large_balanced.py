"""Anneal the default's large member: its own recipe, the learning rate to 0.

The large balanced run (``train_large_balanced.py``) trained at a constant
learning rate of 1e-4 for 17,000 steps; its validation loss was still
falling, slowly and noisily. This run goes on from its best weights
(training/large-balanced/model.safetensors) with the same distribution and
loss, the learning rate falling from 1e-4 to 0 along half a cosine over
7,000 steps (``TrainConfig(lr_schedule="cosine")``), the usual last phase of
a run that has levelled off. About 1.8 steps/s on 2 CPU cores with nothing
else running; it resumes from training/large-anneal/ (weights, optimiser,
scheduler and random state, overwritten; delete the folder when the run is
done). Run from the repository root:

    python scripts/anneal_large_balanced.py --time-limit 4800 --threads 2

It ran once to step 7,000 (58 minutes; best validation at step 5,500) and
changed nothing measurable in the ensemble (*Benchmarks > The large member
with its learning rate annealed*); the run is over, its learning curve is
in training/large-anneal/train_log.jsonl and its weights were not kept.
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_large_balanced import LARGE_BALANCED

from mne_piunet import read_model

ROOT = Path(__file__).resolve().parents[1]
LARGE_ANNEAL = dataclasses.replace(
    LARGE_BALANCED, lr_schedule="cosine", n_steps=7_000, seed=29
)

if __name__ == "__main__":
    member = read_model(ROOT / "training" / "large-balanced" / "model.safetensors")
    train(LARGE_ANNEAL, ROOT / "training" / "large-anneal", pretrained=member)
