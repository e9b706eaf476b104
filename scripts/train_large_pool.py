"""Fine-tune the large balanced model on a pool of template heads.

The large model fine-tuned with the balanced loss and focal batches
(``train_large_balanced.py``, the default's second member) learnt one head:
on the unseen sample head its single-source maps land farther from the
source than eLORETA's maximum at 20 and 30 dB. The same recipe on a pool of
8 varied template heads (:func:`mne_piunet.template.make_template_head_pool`:
skull conductivity 1/80 to 1/20 of the brain's, skull 5 to 9 mm thick, four
montages, electrodes moved by 3 mm; forwards computed once, about 2 minutes
each, and cached) asks whether head variety moves the unseen head without
the loss of many-source accuracy it cost the small network
(``finetune_head_pool.py``). It starts from the member's weights
(training/large-balanced/model.safetensors) and resumes from
training/large-pool/ (weights, optimiser, scheduler and random state,
overwritten; delete the folder when the run is done). About 2.1 steps/s
on 2 CPU cores with nothing else running (a third of that beside a
benchmark), after about 7 minutes spent on the pool's noise covariances.
Run from the repository root:

    python scripts/train_large_pool.py --time-limit 3600 --threads 2

It ran to step 8,000 on 2 CPU cores (88 minutes, some of them beside
other jobs; best validation at step 5,500, flat after; *Benchmarks > The
large member on a pool of heads*) and is over: its checkpoint was removed
from the tree (restore it with ``git checkout c21c92f --
training/large-pool/checkpoint.pt`` to go on).
"""

import dataclasses
from pathlib import Path

from train_default import train
from train_large_balanced import LARGE_BALANCED

from mne_piunet import read_model
from mne_piunet.template import HeadPoolConfig, make_template_head_pool

ROOT = Path(__file__).resolve().parents[1]
LARGE_POOL = dataclasses.replace(LARGE_BALANCED, seed=23)


def pool():
    """Return the 8 heads of the pool, the unvaried template first."""
    return make_template_head_pool(HeadPoolConfig(n_heads=8), verbose=True)


if __name__ == "__main__":
    member = read_model(ROOT / "training" / "large-balanced" / "model.safetensors")
    train(LARGE_POOL, ROOT / "training" / "large-pool", pretrained=member, heads=pool)
