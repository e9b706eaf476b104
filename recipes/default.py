"""Recipe of the shipped default model, from scratch: two networks, one mean.

The default is the mean of two networks' maps (:func:`mne_piunet.make_ensemble`):

- ``small``: the three stages of ``recipes/small.py``;
- ``large-balanced``: a 1.77 M-parameter network trained from scratch
  (``large``: 1 to 15 sources, half the batches with coloured noise, SNR
  -10 to 30 dB, the paper's amplitude rule, with which a network this size
  leaves the all-zero start, 24,000 steps), then fine-tuned with 30 % of the
  batches focal single sources and each sample's error relative to its
  mean moment, so that focal sources count like wide ones (17,000 steps;
  the best validation, at step 16,500, is kept).

Step counts are the ones the shipped networks ran (their cards record them;
``tests/test_recipes.py`` checks that these configurations equal the
cards'). About 4.5 CPU hours for ``small`` and 45 for ``large-balanced`` on 2
cores; the shipped ``large`` stage ran steps 11,500 to 23,500 on an NVIDIA
H200 (about 25 steps/s there, 2 on 2 CPU cores). The registered
``model="large"`` is the ``large`` stage.

    python recipes/default.py --out piunet-default.safetensors --time-limit 3600

Run it again until it writes ``--out``: finished stages are skipped, a
running one resumes from its checkpoint (also on another device).
"""

import dataclasses

from _run import main
from small import SMALL
from small import STAGES as SMALL_STAGES

from mne_piunet import UNetConfig
from mne_piunet.simulation import NoiseConfig, SimulationConfig

LARGE = dataclasses.replace(
    SMALL,
    network=UNetConfig(base_channels=16, num_res_blocks=1, num_groups=8, num_heads=2),
    simulation=SimulationConfig(
        n_sources=(1, 15),
        single_source_prob=0.2,
        snr_db=(-10.0, 30.0),
        noise_only_prob=0.1,
    ),
    noise=NoiseConfig(n_covariances=32, white_prob=0.5),
    amplitude="init",  # with "fit" a from-scratch run of this size stayed at zero
    n_steps=24_000,
    lr=1e-3,
    val_every=500,
    patience=6,
    seed=3,
)
LARGE_BALANCED = dataclasses.replace(
    LARGE,
    loss_norm="mass",
    focus=SimulationConfig(
        n_sources=(1, 1), extent=(0.005, 0.015), snr_db=(10.0, 30.0)
    ),
    focus_prob=0.3,
    n_steps=17_000,
    lr=1e-4,
    patience=5,
    seed=19,
)
STAGES = [
    *SMALL_STAGES,
    ("large", LARGE, None),
    ("large-balanced", LARGE_BALANCED, "large"),
]
MEMBERS = ("small", "large-balanced")  # the ensemble, equal weights

if __name__ == "__main__":
    main(STAGES, __doc__, members=MEMBERS)
