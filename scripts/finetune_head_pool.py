"""Fine-tune on a pool of template heads or on one: which helps on an unseen head.

Fine-tunes the "small" model (the default's first member) for a fixed number
of steps (about 15 minutes on 2 CPU cores) with the distribution of its last
stage (1 to 5 sources, coloured noise, SNR -10 to 30 dB, fitted amplitudes),
either on the template alone (``--heads 1``, the control) or on a pool of
varied template heads (``--heads 8``: skull conductivity 1/80 to 1/20 of the
brain's, skull 5 to 9 mm thick, four montages, electrodes moved by 3 mm; see
:func:`mne_piunet.template.make_template_head_pool`). The pool's forwards
are computed once (about 2 minutes each) and cached. Run from the
repository root; writes runs/head-pool-<heads>/model.safetensors:

    python scripts/finetune_head_pool.py --heads 1 --steps 4000
    python scripts/finetune_head_pool.py --heads 8 --steps 4000

Then compare on the benchmark's two heads (the sample head is the unseen one;
needs ``MNE_PIUNET_TESTING_DATA``), the same seeded cells for every model:

    mne-piunet benchmark --model runs/head-pool-8/model.safetensors
        --n-sources 1 5 --n-samples 50 --methods PIUNet --out runs/head-pool-8
"""

import argparse
import dataclasses
from pathlib import Path

import torch

from mne_piunet import read_model
from mne_piunet.template import HeadPoolConfig, make_template_head_pool
from mne_piunet.training import finetune_config, train_model

ROOT = Path(__file__).resolve().parents[1]


def main():
    """Fine-tune on ``--heads`` template heads and save the model."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    small = read_model("small")
    # as the per-subject fine-tuning (8 noise covariances per head)
    config = finetune_config(small, n_steps=args.steps)
    config = dataclasses.replace(config, val_every=500)
    heads = make_template_head_pool(HeadPoolConfig(n_heads=args.heads), verbose=True)
    out = ROOT / "runs" / f"head-pool-{args.heads}"
    model = train_model(
        heads,
        config,
        pretrained=small,
        checkpoint_dir=out,
        resume=True,
        verbose=True,
    )
    model.save(out / "model.safetensors", overwrite=True)


if __name__ == "__main__":
    main()
