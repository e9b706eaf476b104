"""Inference speed and memory of 3D-PIUNet, next to MNE's own eLORETA.

    python benchmarks/inference_speed.py [--threads 2] [--raw-seconds 60]
        [--precision auto] [--out doc/performance_results.md]

Parts, each in a fresh process so that its peak resident memory is its own:

- ``network``: time per time point of the default model and of the paper-size
  network (random weights: speed does not depend on them) at several batch
  sizes, on the default model's grid and on the paper's 32^3 grid;
- ``evoked``: the sample subject's full evoked response (421 time points, 60
  EEG channels, 7 mm volume forward on its real BEM) end to end with
  ``apply_piunet``, and how far the network's optimised path (channels-last
  layout, bfloat16 autocast where the hardware has it) is from the plain
  float32 one on the same inits;
- ``mne``: the same data through ``make_inverse_operator`` + ``apply_inverse``
  with eLORETA;
- ``raw``: ``apply_piunet_raw`` on ``--raw-seconds`` of 60-channel data at
  250 Hz (the sample channels, random signals).

``--sensors meg`` (306 channels) or ``eeg-meg`` (366) runs ``evoked`` and
``mne`` on the sample subject's MEG or MEG and EEG instead of its EEG, e.g.
``python benchmarks/inference_speed.py --part evoked --sensors meg``.

Needs the offline sample data (``MNE_PIUNET_TESTING_DATA``). Runs on CUDA
too when a GPU is present (``--device cuda``).
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import mne
import numpy as np
import torch

from mne_piunet import GridSpec, PIUNet, UNet3D, UNetConfig, apply_piunet, read_model
from mne_piunet._device import use_bf16
from mne_piunet._sensors import add_average_reference_projector
from mne_piunet.datasets import load_sample_head


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time_network(network, shape, batch_size, device, seconds, bf16):
    # as apply_piunet runs it: channels-last on CPU only
    model = PIUNet(network, GridSpec(shape, 0.007))
    network = model.inference_network(device, bf16=bf16)
    x = torch.randn(batch_size, 3, *shape, device=device)
    n = 0
    with torch.inference_mode():
        network(x)  # warm up
        _sync(device)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds or n == 0:
            network(x)
            n += batch_size
        _sync(device)
    return (time.perf_counter() - t0) / n


def _gflop_per_time_point(network, shape):
    """Floating-point operations of one time point (multiply-adds count 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        network(torch.randn(1, 3, *shape))
    return counter.get_total_flops() / 1e9


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def part_network(args):
    """Time per time point for the default and the paper-size network."""
    default = read_model("default", verbose=False)
    paper = UNet3D(UNetConfig())  # 32 channels, (1, 2, 4), 2 blocks: ~10 M params
    bf16 = use_bf16(args.precision, args.device)
    rows = []
    cases = [
        ("default", default.network, default.grid.shape, (1, 4, 8, 16, 32)),
        ("paper-size", paper, default.grid.shape, (1, 8)),
        ("paper-size", paper, (32, 32, 32), (1, 8)),
    ]
    if args.device == "cuda":
        cases = [(n, net, s, (1, 64, 256, 1024)) for n, net, s, _ in cases]
    for name, network, shape, batch_sizes in cases:
        n_params = sum(p.numel() for p in network.parameters()) / 1e6
        gflop = _gflop_per_time_point(network, shape)
        for batch_size in batch_sizes:
            sec = _time_network(
                network, shape, batch_size, args.device, args.seconds, bf16
            )
            rows.append(
                dict(
                    network=f"{name} ({n_params:.2f} M)",
                    grid="x".join(map(str, shape)),
                    batch_size=batch_size,
                    bf16=bf16,
                    ms_per_time_point=1e3 * sec,
                    time_points_per_s=1 / sec,
                    gflop_per_time_point=gflop,
                    gflop_per_s=gflop / sec,
                )
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def part_evoked(args):
    """Time the sample evoked end to end; compare with the plain layout."""
    from mne_piunet import make_piunet_operator

    head = _sample_head(args)
    model = read_model(args.model, verbose=False)
    t0 = time.perf_counter()
    apply_piunet(head.evoked, head.forward, model, head.noise_cov, device=args.device)
    seconds = time.perf_counter() - t0
    # The network's optimised path against the plain float32 one, same inits.
    op = make_piunet_operator(
        head.evoked.info, head.forward, head.noise_cov, model=model
    )
    kernel = op.kernel(head.evoked.nave)
    init = kernel.apply(head.evoked.data[op.picks(head.evoked.info)])
    bf16 = use_bf16("auto", args.device)
    fast_network = model.inference_network(args.device, bf16=bf16)
    plain_network = model.network.to(memory_format=torch.contiguous_format)
    maps = []
    with torch.inference_mode():
        for network in (plain_network, fast_network):
            out = [model.refine(i, op.grid, network=network) for i in init.split(16)]
            maps.append(torch.linalg.vector_norm(torch.cat(out), dim=2).T.numpy())
    plain, fast = maps
    diff = np.abs(fast - plain).max(axis=0) / np.abs(plain).max(axis=0)
    return [
        dict(
            method=f"PIUNet ({args.model} model, bf16: {bf16})",
            n_times=len(head.evoked.times),
            seconds=seconds,
            peak_rss_mb=_peak_rss_mb(),
            max_rel_diff_vs_plain_float32=float(diff.max()),
            median_rel_diff_vs_plain_float32=float(np.median(diff)),
        )
    ]


def part_mne(args):
    """Time MNE's eLORETA (make_inverse_operator + apply_inverse) on the same data."""
    head = _sample_head(args)
    t0 = time.perf_counter()
    inv = mne.minimum_norm.make_inverse_operator(
        head.evoked.info, head.forward, head.noise_cov, loose=1.0, verbose=False
    )
    mne.minimum_norm.apply_inverse(head.evoked, inv, 1 / 9, "eLORETA", verbose=False)
    seconds = time.perf_counter() - t0
    n_times = len(head.evoked.times)
    return [
        dict(
            method="eLORETA (MNE)",
            n_times=n_times,
            seconds=seconds,
            peak_rss_mb=_peak_rss_mb(),
        )
    ]


def _sample_head(args):
    sensors = dict(meg="meg" in args.sensors, eeg="eeg" in args.sensors)
    return load_sample_head(**sensors, verbose=False)


def part_raw(args):
    """apply_piunet_raw on synthetic 60-channel data at 250 Hz."""
    from mne_piunet import apply_piunet_raw

    head = load_sample_head(verbose=False)
    info = mne.create_info(head.evoked.ch_names, 250.0, "eeg")
    info.set_montage(head.evoked.get_montage())
    info = add_average_reference_projector(info)
    n_times = int(args.raw_seconds * 250)
    rng = np.random.default_rng(0)
    raw = mne.io.RawArray(1e-6 * rng.standard_normal((60, n_times)), info)
    t0 = time.perf_counter()
    stc = apply_piunet_raw(raw, head.forward, args.model, verbose=True)
    seconds = time.perf_counter() - t0
    return [
        dict(
            method="PIUNet raw",
            n_times=n_times,
            seconds=seconds,
            peak_rss_mb=_peak_rss_mb(),
            output_mb=stc.data.nbytes / 1e6,
        )
    ]


PARTS = dict(network=part_network, evoked=part_evoked, mne=part_mne, raw=part_raw)


def _table(rows):
    keys = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        values = [row.get(k, "") for k in keys]
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    """Run every part in its own process and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=sorted(PARTS), default=None)
    parser.add_argument("--model", default="default", help="evoked, raw: name or file")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision", choices=("auto", "float32", "bfloat16"), default="auto"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per timing")
    parser.add_argument("--raw-seconds", type=float, default=60.0)
    parser.add_argument("--sensors", choices=("eeg", "meg", "eeg-meg"), default="eeg")
    parser.add_argument("--out", default=None, help="also write the tables here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mne.set_log_level("warning")
    if args.part is not None:  # child process: one part, JSON out
        print(json.dumps(PARTS[args.part](args)))
        return
    text = [f"Device: {args.device}, {args.threads} threads, torch {torch.__version__}"]
    results = {}
    for part in ("network", "evoked", "mne", "raw"):
        print(f"Running {part}...", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, "--part", part] + sys.argv[1:]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[part] = json.loads(out.strip().splitlines()[-1])
    ratio = results["evoked"][0]["seconds"] / results["mne"][0]["seconds"]
    text += ["\n## Network alone\n", _table(results["network"])]
    text += ["\n## Sample evoked end to end\n"]
    text += [_table(results["evoked"] + results["mne"]), f"\nRatio: {ratio:.1f}x"]
    text += ["\n## Raw\n", _table(results["raw"])]
    text = "\n".join(text) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fid:
            fid.write(text)


if __name__ == "__main__":
    main()
