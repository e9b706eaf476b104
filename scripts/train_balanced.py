"""Fine-tune the default with every sample's error relative to its own size.

Under the default's loss each sample's L1 error is divided by its largest
true moment, so a focal single source (a handful of non-zero points) weighs
about a hundredth of ten wide ones, and the network never learned where a
focal source's maximum lies (*Focal sources* in the benchmarks page). This
run keeps the default's distribution (``train_real_noise.py``) and divides
each sample's error by its mean moment magnitude instead
(``TrainConfig.loss_norm="mass"``). ``--focus`` also draws 30 % of the
batches from focal single sources (``train_focus.py``'s); ``--unwhitened``
on top of that inverts 30 % of the coloured-noise batches with the ad-hoc
covariance (``NoiseConfig.unwhitened_prob``: users who pass none);
``--wide`` is ``--focus`` with 1 to 10 sources instead of 1 to 5 (the
balanced loss weighs many-source samples less than the default's did).
``--geometric`` is ``--focus`` with each error divided by the geometric mean
of the sample's largest and mean moment (``loss_norm="geometric"``: between
the default's weighting and the balanced one), ``--geometric-wide`` that
with 1 to 10 sources. Run from the repository root; resumes from the
checkpoint.pt of its run folder (runs/balanced, runs/balanced-focus, ...,
runs/geometric-wide; the names in ``VARIANTS``):

    python scripts/train_balanced.py --time-limit 5400 --threads 1
"""

import dataclasses
import sys
from pathlib import Path

from train_default import train
from train_focus import FOCUS
from train_real_noise import REAL_NOISE

ROOT = Path(__file__).resolve().parents[1]
BALANCED = dataclasses.replace(
    REAL_NOISE,
    loss_norm="mass",
    lr=1e-4,
    val_every=300,
    patience=5,
    seed=13,
)
BALANCED_FOCUS = dataclasses.replace(
    BALANCED, focus=FOCUS.focus, focus_prob=FOCUS.focus_prob, seed=14
)
BALANCED_UNWHITENED = dataclasses.replace(
    BALANCED_FOCUS,
    noise=dataclasses.replace(REAL_NOISE.noise, unwhitened_prob=0.3),
    seed=15,
)
BALANCED_WIDE = dataclasses.replace(
    BALANCED_FOCUS,
    simulation=dataclasses.replace(REAL_NOISE.simulation, n_sources=(1, 10)),
    seed=16,
)
GEOMETRIC = dataclasses.replace(BALANCED_FOCUS, loss_norm="geometric", seed=17)
GEOMETRIC_WIDE = dataclasses.replace(
    GEOMETRIC, simulation=BALANCED_WIDE.simulation, seed=18
)
VARIANTS = {  # option: (configuration, run folder)
    None: (BALANCED, "balanced"),
    "--focus": (BALANCED_FOCUS, "balanced-focus"),
    "--unwhitened": (BALANCED_UNWHITENED, "balanced-unwhitened"),
    "--wide": (BALANCED_WIDE, "balanced-wide"),
    "--geometric": (GEOMETRIC, "geometric"),
    "--geometric-wide": (GEOMETRIC_WIDE, "geometric-wide"),
}

if __name__ == "__main__":
    option = next((a for a in sys.argv[1:] if a in VARIANTS), None)
    if option is not None:
        sys.argv.remove(option)
    config, name = VARIANTS[option]
    train(config, ROOT / "runs" / name, pretrained="small")
