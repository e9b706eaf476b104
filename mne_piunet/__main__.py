"""Command line: ``mne-piunet demo | sys_info | train | benchmark | fetch | models``."""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from ._inverse import AMPLITUDES, INDEPENDENT_SAMPLES, ORIENTATIONS, RESIDUAL_METHODS
from .benchmark import METHODS


def _demo(args):
    import matplotlib

    matplotlib.use("Agg")  # the demo writes a file; no display needed
    import mne

    from . import apply_piunet, metrics
    from ._eeg import forward_eeg_info
    from ._grid import forward_source_positions
    from .simulation import SimulationConfig, SourceSimulator, torch_generator
    from .template import make_template_forward
    from .viz import plot_projections

    print("Template forward (first run builds the BEM: a few minutes)...")
    fwd = make_template_forward(verbose=args.verbose)
    cfg = SimulationConfig(n_sources=(1, 1), extent=(0.01, 0.02), snr_db=(10, 10))
    batch = SourceSimulator(fwd, cfg).sample(args.n_samples, torch_generator(args.seed))
    info = forward_eeg_info(fwd)
    evoked = mne.EvokedArray(batch.sensors.numpy().T, info, tmin=0.0)
    pos = forward_source_positions(fwd)
    piunet = apply_piunet(  # the "time points" are independent samples
        evoked,
        fwd,
        args.model,
        pick_ori="vector",
        **INDEPENDENT_SAMPLES,
        verbose=False,
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
        show=False,
    )
    fig.savefig(args.out, dpi=100)
    print(f"Maps of the first sample (maximum projections): {Path(args.out).resolve()}")


def _sys_info(args):
    import platform

    import mne
    import numpy as np
    import torch

    from . import __version__
    from ._io import data_dir
    from ._model import available_devices
    from .datasets import cached_models

    print(f"mne-piunet:  {__version__}")
    print(f"Python:      {platform.python_version()} ({platform.platform()})")
    for name, module in (("mne", mne), ("torch", torch), ("numpy", np)):
        print(f"{name + ':':12s} {module.__version__}")
    print(f"devices:     {', '.join(available_devices())}")
    print(f"CPU threads: {torch.get_num_threads()}")
    print(f"bf16:        {_bf16_support(torch)}")
    print(f"cache:       {data_dir()}")
    for row in cached_models():
        where = row["cached"] or "not cached (mne-piunet fetch NAME)"
        print(f"model {row['name']!r}: {where}")


def _bf16_support(torch):
    """Say where bfloat16 runs natively (autocast is 1.5-2x faster there)."""
    found = []
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        found.append("CUDA")
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        found.append("CPU (avx512_bf16/amx_bf16)")
    return ", ".join(found) or "no native support found"


def _train(args):
    from . import UNetConfig, read_model
    from .simulation import SimulationConfig
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
        simulation=SimulationConfig(),
        n_channels=args.n_channels and tuple(args.n_channels),
        lambda2_range=args.lambda2_range and tuple(args.lambda2_range),
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
        precision=args.precision,
        amplitude=args.amplitude,
        orientation=args.orientation,
        residual=args.residual,
        residual_method=args.residual_method,
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
    model = args.model or "default"
    header = f"`mne-piunet {' '.join(args.argv)}`, model: {model}\n"
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


def main(argv=None):
    """Run the ``mne-piunet`` command line."""
    parser = argparse.ArgumentParser(prog="mne-piunet", description=__doc__)
    parser.add_argument(
        "--verbose", default="warning", help="MNE log level (e.g. info, warning)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="localise simulated sources on the template")
    demo.add_argument(
        "--model", default=None, help="model name or file (default: shipped)"
    )
    demo.add_argument("--n-samples", type=int, default=20, help="simulated samples")
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    demo.add_argument(
        "--out", default="mne-piunet-demo.png", help="figure of the maps (PNG)"
    )
    demo.set_defaults(func=_demo)
    info = sub.add_parser("sys_info", help="versions, devices, cache and models")
    info.set_defaults(func=_sys_info)
    train = sub.add_parser("train", help="train a model on the template")
    train.add_argument("--out", required=True, help="model file to write")
    train.add_argument("--montage", default="easycap-M10", help="MNE montage name")
    train.add_argument("--steps", type=int, default=1000, help="optimiser steps")
    train.add_argument("--batch-size", type=int, default=8, help="samples per step")
    train.add_argument("--base-channels", type=int, default=8, help="U-Net width")
    train.add_argument("--res-blocks", type=int, default=1, help="blocks per level")
    train.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    train.add_argument(
        "--pretrained", default=None, help="model name or file to fine-tune"
    )
    for flag, kind, what in (
        ("--n-channels", int, "random electrode subsets of this size"),
        ("--lambda2-range", float, "lambda2 drawn in this range"),
    ):
        train.add_argument(
            flag, type=kind, nargs=2, metavar=("MIN", "MAX"), help=f"train on {what}"
        )
    train.add_argument("--seed", type=int, default=0, help="seed of training data")
    train.add_argument("--checkpoint-dir", default=None, help="checkpoint folder")
    train.add_argument("--resume", action="store_true", help="resume a checkpoint")
    train.add_argument("--time-limit", type=float, default=None, help="seconds")
    train.set_defaults(func=_train)
    tune = sub.add_parser(
        "finetune", help="fine-tune a model on a subject's forward solution"
    )
    tune.add_argument("forward", help="the subject's EEG forward solution (-fwd.fif)")
    tune.add_argument("--out", required=True, help="model file to write")
    tune.add_argument("--model", default=None, help="model name or file (default)")
    tune.add_argument(
        "--time-limit", type=float, default=900.0, help="seconds of training in all"
    )
    tune.add_argument(
        "--steps", type=int, default=None, help="steps per network instead of a time"
    )
    tune.add_argument(
        "--members", type=int, nargs="+", default=None, help="networks to fine-tune"
    )
    tune.add_argument("--seed", type=int, default=7, help="seed of training data")
    tune.set_defaults(func=_finetune)
    bench = sub.add_parser("benchmark", help="PIUNet vs MNE's inverses, seeded")
    bench.add_argument("--model", default=None, help="model name or file")
    bench.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=METHODS, help="methods"
    )
    bench.add_argument("--n-samples", type=int, default=25, help="samples per cell")
    bench.add_argument(
        "--n-sources", type=int, nargs="+", default=None, help="sources per sample"
    )
    bench.add_argument(
        "--extent",
        type=float,
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="range of blob standard deviations in metres, volume source space "
        "only (default 0.005 0.04)",
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
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="arithmetic of PIUNet's network",
    )
    bench.add_argument(
        "--amplitude",
        choices=AMPLITUDES,
        default="fit",
        help="PIUNet's amplitude rule (see apply_piunet)",
    )
    bench.add_argument(
        "--orientation",
        choices=ORIENTATIONS,
        default="init",
        help="where PIUNet's source directions come from (see apply_piunet)",
    )
    bench.add_argument(
        "--residual",
        type=float,
        default=0.0,
        help="PIUNet's data-consistency step, 0 to 1 (see apply_piunet)",
    )
    bench.add_argument(
        "--residual-method",
        choices=RESIDUAL_METHODS,
        default="init",
        help="what estimates the unexplained data's sources (see apply_piunet)",
    )
    bench.add_argument(
        "--blend",
        type=float,
        default=0.0,
        help="share of the init's map in PIUNet's, 0 to 1 (see apply_piunet)",
    )
    bench.add_argument("--out", default="benchmark-results", help="output folder")
    bench.set_defaults(func=_benchmark)
    fetch = sub.add_parser("fetch", help="download and verify a pretrained model")
    fetch.add_argument("name", help="registered model name (see `models`)")
    fetch.add_argument("--path", default=None, help="cache folder")
    fetch.add_argument("--force", action="store_true", help="download again")
    fetch.set_defaults(func=_fetch)
    models = sub.add_parser("models", help="list pretrained models and the cache")
    models.add_argument("--path", default=None, help="cache folder")
    models.set_defaults(func=_models)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    import mne

    mne.set_log_level(args.verbose)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
