"""Train the first stage of the default model (CPU-sized, 1 to 10 sources).

The "small" model (the default's first member) is this run (8,900 steps)
fine-tuned by ``train_few_sources.py``.

Run from the repository root; resumes from runs/default/checkpoint.pt:

    python scripts/train_default.py --time-limit 4500
"""

import argparse
import sys
from pathlib import Path

import torch

from mne_piunet import UNetConfig
from mne_piunet.simulation import SimulationConfig
from mne_piunet.template import make_template_forward
from mne_piunet.training import TrainConfig, train_model

ROOT = Path(__file__).resolve().parents[1]
CONFIG = TrainConfig(
    network=UNetConfig(base_channels=8, num_res_blocks=1, num_groups=4, num_heads=2),
    simulation=SimulationConfig(n_sources=(1, 10), single_source_prob=0.2),
    batch_size=8,
    n_steps=20000,
    lr=1e-3,
    val_samples=128,
    val_every=100,
    patience=5,
    seed=0,
)


def train(config, run_dir, *, pretrained=None, heads=None):
    """Train (resuming from ``run_dir``) and save ``run_dir``/model.safetensors.

    ``heads``, when given, is called (after the arguments are parsed) for the
    forward or forwards to train on; the default is the template head.
    """
    # the running script's own docstring (this function serves every train_*.py)
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__)
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--out", default=run_dir / "model.safetensors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help='for example "cuda"')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if heads is None:
        fwd = make_template_forward("easycap-M10", 0.007)
    else:
        fwd = heads()
    model = train_model(
        fwd,
        config,
        pretrained=pretrained,
        device=args.device,
        checkpoint_dir=run_dir,
        resume=True,
        time_limit=args.time_limit,
        verbose=True,
    )
    model.save(args.out, overwrite=True)


if __name__ == "__main__":
    train(CONFIG, ROOT / "runs" / "default")
