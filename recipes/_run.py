"""What every recipe shares: run its training stages in order, resumably.

Each stage trains in its own folder under the work folder (outside the
repository): a checkpoint while it runs, ``model.safetensors`` once it is
done. Running a recipe again skips finished stages and resumes the running
one, so a recipe can take several sessions (``--time-limit``) and move
between machines (copy the work folder; ``--device cuda`` on a GPU).
"""

import argparse
from pathlib import Path

import torch

from mne_piunet import make_ensemble, read_model
from mne_piunet.template import make_template_forward
from mne_piunet.training import train_model

MONTAGE, SPACING = "easycap-M10", 0.007  # the template head of every shipped model


def parse_args(description):
    """Return the command line options every recipe takes."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.home() / "mne-piunet-recipes",
        help="folder for the stages' checkpoints and models (outside the repo)",
    )
    parser.add_argument("--out", type=Path, required=True, help="model file to write")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--device", default="cpu", help='for example "cuda"')
    return parser.parse_args()


def run_stages(stages, args, forward=None):
    """Train ``stages`` (name, config, what it starts from) in order.

    A stage starts from the named earlier stage's model, a shipped model
    (a ``PIUNet``) or, with ``None``, from scratch. ``forward`` (a Forward
    or a list of them, see ``train_model``) defaults to the template head.
    Returns the last stage's model, or None when the time limit stopped a
    stage before its last step (run the recipe again to go on).
    """
    torch.set_num_threads(args.threads)
    if forward is None:
        forward = make_template_forward(MONTAGE, SPACING)
    model = None
    for name, config, start in stages:
        folder = args.workdir / name
        done = folder / "model.safetensors"
        if done.is_file():
            model = read_model(done)
            continue
        pretrained = start
        if isinstance(start, str):
            pretrained = read_model(args.workdir / start / "model.safetensors")
        model = train_model(
            forward,
            config,
            pretrained=pretrained,
            device=args.device,
            checkpoint_dir=folder,
            resume=True,
            time_limit=args.time_limit,
            verbose=True,
        )
        stopped = model.info["training"]["stopped"]
        if stopped in ("time limit", "interrupted"):
            print(f"Stage {name}: {stopped} at step {model.info['training']['steps']}")
            return None
        model.save(done, overwrite=True)
    return model


def main(stages, description, *, members=None):
    """Run a recipe from the command line and write its model.

    ``members`` (stage names) make the model the mean of those stages'
    networks, else it is the last stage's.
    """
    args = parse_args(description)
    model = run_stages(stages, args)
    if model is None:
        return
    if members is not None:
        model = make_ensemble(
            [read_model(args.workdir / name / "model.safetensors") for name in members]
        )
        for name, card in zip(members, model.info["ensemble"]["members"], strict=True):
            card["source"] = name
    model.save(args.out, overwrite=True)
    print(f"Saved {model!r} to {args.out}")
