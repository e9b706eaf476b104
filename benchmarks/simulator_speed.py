"""Training pairs per second of the batched simulator on the 7 mm template.

python benchmarks/simulator_speed.py [--threads 2] [--batch 64]
"""

import argparse
import time

import torch

from mne_piunet.simulation import SourceSimulator, torch_generator
from mne_piunet.template import make_template_forward


def main():
    """Time the simulator for ten seconds."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fwd = make_template_forward(verbose=False)
    sim = SourceSimulator(fwd)
    gen = torch_generator(0)
    sim.sample(args.batch, gen)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        sim.sample(args.batch, gen)
        n += args.batch
    rate = n / (time.perf_counter() - t0)
    print(
        f"{rate:.0f} (sources, sensors) pairs/s, batch {args.batch}, "
        f"{args.threads} threads, {fwd['nsource']} sources, {fwd['nchan']} channels"
    )


if __name__ == "__main__":
    main()
