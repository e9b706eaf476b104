"""Fine-tune the default model on one subject's head model (per-subject workflow).

What a user with their own MRI-based forward can do:
:func:`mne_piunet.training.finetune_model` trains each network of the model
(each member of the default ensemble, the time split evenly) on sources
simulated through *their* forward, with that network's own training
recipe, for a fixed time budget. Here the subject is the MNE sample subject
(real 3-layer BEM, 60 digitised electrodes, 7 mm volume), which the default
never saw. Run from the repository root (needs ``MNE_PIUNET_TESTING_DATA``);
writes runs/sample-head.safetensors:

    python scripts/finetune_sample_head.py --model default --time-limit 900

``--members 1`` fine-tunes the default's large network only and keeps the
small one. Compare with the default on the sample head (same seeded test
sets):

    mne-piunet benchmark --model runs/sample-head.safetensors
        --n-sources 1 2 3 5 10 --n-samples 50 --methods PIUNet --out runs/sample-head
"""

import argparse
from pathlib import Path

import torch

from mne_piunet.datasets import load_sample_head
from mne_piunet.training import finetune_model

ROOT = Path(__file__).resolve().parents[1]


def main():
    """Fine-tune for ``--time-limit`` seconds and save the model."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--time-limit", type=float, default=900.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7, help="of the simulated data")
    parser.add_argument(
        "--members", type=int, nargs="+", default=None, help="networks to fine-tune"
    )
    parser.add_argument("--out", default=ROOT / "runs" / "sample-head.safetensors")
    args = parser.parse_args()
    out = Path(args.out)
    torch.set_num_threads(args.threads)
    head = load_sample_head(spacing=0.007)
    model = finetune_model(
        head.forward,
        args.model,
        time_limit=args.time_limit,
        members=args.members,
        seed=args.seed,
        verbose=True,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out, overwrite=True)
    print(model)


if __name__ == "__main__":
    main()
