"""The mne-piunet command line.

Heavy modules (torch, MNE) are imported inside the commands, so that
``--help`` and ``--version`` answer at once.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ._version import __version__

# as mne_piunet.benchmark.METHODS (kept here so that --help loads no torch)
_BENCHMARK_METHODS = (
    "PIUNet",
    "eLORETA",
    "sLORETA",
    "dSPM",
    "MNE",
    "LCMV",
    "MxNE",
    "gamma-MAP",
)


def _demo(args):
    import matplotlib

    matplotlib.use("Agg")  # the demo writes a file; no display needed
    import mne
    import numpy as np

    from . import apply_piunet, metrics
    from ._grid import forward_source_positions
    from ._inverse import INDEPENDENT_SAMPLES
    from ._sensors import forward_eeg_info
    from .simulation import SimulationConfig, SourceSimulator, torch_generator
    from .template import make_template_forward, template_forward_cached
    from .viz import plot_projections

    if not template_forward_cached():
        print("Template forward: the first run builds the BEM (a few minutes)...")
    fwd = make_template_forward(verbose=args.verbose)
    cfg = SimulationConfig(n_sources=(1, 1), extent=(0.01, 0.02), snr_db=(10, 10))
    batch = SourceSimulator(fwd, cfg).sample(args.n_samples, torch_generator(args.seed))
    info = forward_eeg_info(fwd)
    evoked = mne.EvokedArray(batch.sensors.numpy().T, info, tmin=0.0)
    pos = forward_source_positions(fwd)
    piunet = apply_piunet(  # the "time points" are independent samples
        evoked, fwd, args.model, pick_ori="vector", **INDEPENDENT_SAMPLES
    )
    inv = mne.minimum_norm.make_inverse_operator(
        info, fwd, mne.make_ad_hoc_cov(info, verbose=False), loose=1.0, verbose=False
    )
    elor = mne.minimum_norm.apply_inverse(
        evoked, inv, 1 / 9, "eLORETA", pick_ori="vector", verbose=False
    )
    print(f"{args.n_samples} simulated single sources, SNR 10 dB, on the template:")
    print(f"{'method':10s} {'median loc. error (mm)':>24s} {'median norm. EMD':>18s}")
    for name, stc in (("PIUNet", piunet), ("eLORETA", elor)):
        le, emd = [], []
        for i in range(args.n_samples):
            centers = batch.centers[i, :1].numpy()
            le.append(metrics.localization_error(centers, stc.data[:, :, i], pos)[0])
            emd.append(
                metrics.normalized_emd(
                    batch.sources[i].numpy(), stc.data[:, :, i], pos, resolution=0.014
                )
            )
        print(f"{name:10s} {np.median(le):24.1f} {np.median(emd):18.3f}")
    maps = [batch.sources[0].numpy(), elor.data[:, :, 0], piunet.data[:, :, 0]]
    fig = plot_projections(
        [np.linalg.norm(m, axis=1) for m in maps],
        fwd,
        titles=["truth", "eLORETA", "3D-PIUNet"],
        units=["A·m", "A·m", "A·m"],
        show=False,
    )
    fig.savefig(args.out, dpi=100)
    print(f"Maps of the first sample (maximum projections): {Path(args.out).resolve()}")


def _sys_info(args):
    import platform

    import mne
    import numpy as np
    import torch

    from ._device import available_devices, bf16_fast
    from ._io import data_dir
    from .datasets import cached_models

    print(f"mne-piunet:  {__version__}")
    print(f"Python:      {platform.python_version()} ({platform.platform()})")
    for name, module in (("mne", mne), ("torch", torch), ("numpy", np)):
        print(f"{name + ':':12s} {module.__version__}")
    print(f"devices:     {', '.join(available_devices())}")
    print(f"CPU threads: {torch.get_num_threads()}")
    native = [d for d in available_devices() if bf16_fast(d)]
    print(f"bf16:        {', '.join(native) or 'no native support found'}")
    print(f"cache:       {data_dir()}")
    for row in cached_models():
        where = row["cached"] or "not cached (mne-piunet fetch NAME)"
        print(f"model {row['name']!r}: {where}")


def _train(args):
    from . import UNetConfig, read_model
    from .template import make_template_forward
    from .training import TrainConfig, train_model

    fwd = make_template_forward(args.montage, verbose=args.verbose)
    pretrained = None
    if args.pretrained is not None:  # fine-tuning keeps its architecture
        pretrained = read_model(args.pretrained, verbose=args.verbose)
        network = pretrained.config or UNetConfig()  # train_model checks the type
    else:
        network = UNetConfig(
            base_channels=args.base_channels,
            num_res_blocks=args.res_blocks,
            num_groups=min(8, args.base_channels // 2),
        )
    config = TrainConfig(
        network=network,
        batch_size=args.batch_size,
        n_steps=args.steps,
        lr=args.lr,
        seed=args.seed,
    )
    model = train_model(
        fwd,
        config,
        pretrained=pretrained,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        time_limit=args.time_limit,
        verbose=args.verbose,
    )
    model.save(args.out, overwrite=True)
    print(f"Saved {model!r} to {args.out}")


def _finetune(args):
    import mne

    from .training import finetune_model

    forward = mne.read_forward_solution(args.forward, verbose=args.verbose)
    model = finetune_model(
        forward,
        args.model,
        time_limit=None if args.steps is not None else args.time_limit,
        n_steps=args.steps,
        members=args.members,
        seed=args.seed,
        verbose=args.verbose,
    )
    model.save(args.out, overwrite=True)
    print(f"Saved {model!r} to {args.out}")


def _benchmark(args):
    from .benchmark import BenchmarkConfig, quick_config, run_benchmark, write_report
    from .datasets import load_sample_head, testing_data_path
    from .template import make_template_forward

    config = BenchmarkConfig(
        methods=tuple(args.methods),
        n_samples=args.n_samples,
        seed=args.seed,
        blend=args.blend,
    )
    if args.quick:
        config = quick_config(config)
    if args.n_sources is not None:
        config = replace(config, n_sources=tuple(args.n_sources))
    if args.extent is not None:
        config = replace(config, extent=tuple(args.extent))
    if args.source_space == "surface":  # cortical patches on the cortex template
        config = replace(config, sources="patches")
        heads = {
            "template-cortex": lambda: make_template_forward(
                source_space="surface", verbose=args.verbose
            )
        }
    else:
        heads = {"template": lambda: make_template_forward(verbose=args.verbose)}
        if testing_data_path() is not None:
            heads["sample-head"] = lambda: (
                load_sample_head(verbose=args.verbose).forward
            )
        else:
            print("Sample data not found (MNE_PIUNET_TESTING_DATA): template only")
    header = f"`mne-piunet {' '.join(args.argv)}`, model: {args.model}\n"
    for name, make_forward in heads.items():
        print(f"Benchmark on the {name} head model...")
        records = run_benchmark(make_forward(), args.model, config, verbose=True)
        print(write_report(records, args.out, name, header=header))


def _fetch(args):
    from .datasets import fetch_model

    fname = fetch_model(
        args.name, path=args.path, force_update=args.force, verbose=args.verbose
    )
    print(fname)


def _models(args):
    from .datasets import cached_models

    for row in cached_models(args.path):
        where = row["cached"] or "not cached"
        print(f"{row['name']}: {row['description']} ({row['size'] / 1e6:.1f} MB)")
        print(f"    {where}")


def _number(kind, text):
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults in the help, but not ``None`` (the help says what it means)."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _count(text):
    """Argument type: an integer of at least 1."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text):
    """Argument type: a positive number of seconds."""
    value = _number(float, text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive seconds, got {text}")
    return value


def _share(text):
    """Argument type: a number from 0 to 1."""
    value = _number(float, text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


_COMMANDS = {
    "demo": "localise simulated single sources on the template, next to eLORETA",
    "train": "train a model on the fsaverage template",
    "finetune": "fine-tune a model on a subject's forward solution",
    "benchmark": "score 3D-PIUNet against MNE's inverses on seeded simulations",
    "fetch": "download a registered pretrained model and check its hash",
    "models": "list the registered pretrained models and where they are cached",
    "sys_info": "print versions, devices, the cache folder and the models",
}


def _add_command(sub, name, func):
    parser = sub.add_parser(
        name,
        help=_COMMANDS[name],
        description=_COMMANDS[name].capitalize() + ".",
        formatter_class=_DefaultsFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def _add_demo(sub):
    demo = _add_command(sub, "demo", _demo)
    demo.add_argument("--model", default="default", help="model name or file")
    demo.add_argument("--n-samples", type=_count, default=20, help="simulated samples")
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    demo.add_argument("--out", default="mne-piunet-demo.png", help="figure (PNG)")


def _add_train(sub):
    train = _add_command(sub, "train", _train)
    train.add_argument(
        "--out", required=True, default=argparse.SUPPRESS, help="model file to write"
    )
    train.add_argument("--montage", default="easycap-M10", help="MNE montage name")
    train.add_argument("--steps", type=_count, default=1000, help="optimiser steps")
    train.add_argument("--batch-size", type=_count, default=8, help="samples per step")
    train.add_argument("--base-channels", type=_count, default=8, help="U-Net width")
    train.add_argument("--res-blocks", type=_count, default=1, help="blocks per level")
    train.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    train.add_argument("--pretrained", default=None, help="model to fine-tune")
    train.add_argument("--seed", type=int, default=0, help="seed of training data")
    train.add_argument("--checkpoint-dir", default=None, help="checkpoint folder")
    train.add_argument("--resume", action="store_true", help="resume a checkpoint")
    train.add_argument("--time-limit", type=_seconds, default=None, help="seconds")


def _add_finetune(sub):
    tune = _add_command(sub, "finetune", _finetune)
    tune.add_argument("forward", help="the subject's EEG forward solution (-fwd.fif)")
    tune.add_argument(
        "--out", required=True, default=argparse.SUPPRESS, help="model file to write"
    )
    tune.add_argument("--model", default="default", help="model name or file")
    tune.add_argument(
        "--time-limit", type=_seconds, default=900.0, help="seconds of training in all"
    )
    tune.add_argument(
        "--steps",
        type=_count,
        default=None,
        help="steps per network instead of a time (default: --time-limit)",
    )
    tune.add_argument(
        "--members",
        type=int,
        nargs="+",
        default=None,
        help="positions of the networks to fine-tune (default: all)",
    )
    tune.add_argument("--seed", type=int, default=7, help="seed of training data")


def _add_benchmark(sub):
    bench = _add_command(sub, "benchmark", _benchmark)
    bench.add_argument("--model", default="default", help="model name or file")
    bench.add_argument(
        "--methods",
        nargs="+",
        default=list(_BENCHMARK_METHODS),
        choices=_BENCHMARK_METHODS,
        help="methods to score",
    )
    bench.add_argument("--n-samples", type=_count, default=25, help="samples per cell")
    bench.add_argument(
        "--n-sources",
        type=_count,
        nargs="+",
        default=None,
        help="sources per sample (None: 1 2 3 5 10)",
    )
    bench.add_argument(
        "--extent",
        type=float,
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="range of blob standard deviations in metres, volume source space "
        "only (None: 0.005 0.04)",
    )
    bench.add_argument("--seed", type=int, default=12345, help="test-set seed")
    bench.add_argument(
        "--source-space",
        choices=("volume", "surface"),
        default="volume",
        help="volume: blobs on the template and sample heads; surface: cortical "
        "patches on the template cortex",
    )
    bench.add_argument("--quick", action="store_true", help="reduced grid, minutes")
    bench.add_argument(
        "--blend",
        type=_share,
        default=0.0,
        help="share of eLORETA's map in PIUNet's",
    )
    bench.add_argument("--out", default="benchmark-results", help="output folder")


def _add_fetch_and_models(sub):
    fetch = _add_command(sub, "fetch", _fetch)
    fetch.add_argument("name", help="registered model name (see the models command)")
    fetch.add_argument("--path", default=None, help="cache folder (None: MNE_DATA)")
    fetch.add_argument("--force", action="store_true", help="download again")
    models = _add_command(sub, "models", _models)
    models.add_argument("--path", default=None, help="cache folder (None: MNE_DATA)")


def make_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``mne-piunet`` command line."""
    parser = argparse.ArgumentParser(
        prog="mne-piunet",
        description="3D-PIUNet EEG source imaging for MNE-Python: "
        + ", ".join(_COMMANDS)
        + ".",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    parser.add_argument(
        "--verbose",
        default="warning",
        help="MNE log level (info shows progress; debug also shows tracebacks)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_train(sub)
    _add_finetune(sub)
    _add_benchmark(sub)
    _add_fetch_and_models(sub)
    _add_command(sub, "sys_info", _sys_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``mne-piunet`` command line; return the exit status."""
    args = make_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        import mne

        mne.set_log_level(args.verbose)
        args.func(args)
    except Exception as err:
        if str(args.verbose).lower() == "debug":
            raise
        print(f"mne-piunet {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
