r"""
Fine-tune a model on your own head model
========================================

The pretrained models were trained on a template head. With an MRI-based
forward of your participant (here the MNE sample subject: real 3-layer BEM,
its 60 digitised electrodes, a 7 mm volume source space), you can fine-tune
one on sources simulated through *that* forward, on a CPU, in minutes:
:func:`mne_piunet.training.train_model` with ``pretrained="small"`` and a
``time_limit``. The default model is an ensemble of two networks
(:class:`~mne_piunet.UNetEnsemble`), which is not fine-tuned as a whole;
``"small"`` is its first, faster member (the default before the ensemble).

What it buys, measured with ``scripts/finetune_sample_head.py`` (15 minutes
on 2 CPU cores: 4,400 steps of 8 samples, bfloat16 autocast) and the
benchmark's seeded test sets on the sample head (50 samples per cell;
median normalised EMD, lower is better)::

    python scripts/finetune_sample_head.py --time-limit 900 --threads 2
    mne-piunet benchmark --model runs/sample-head/model.safetensors \
        --n-sources 1 3 --n-samples 50 --methods PIUNet --out runs/sample-head

========  ========================  ========================
SNR (dB)  one source                three sources
========  ========================  ========================
0         0.784 -> 0.716            0.903 -> 0.885
5         0.492 -> 0.505            0.636 -> 0.587
10        0.360 -> 0.319            0.539 -> 0.516
20        0.297 -> 0.250            0.403 -> 0.402
30        0.304 -> 0.253            0.372 -> 0.365
========  ========================  ========================

Each cell: small -> fine-tuned. eLORETA on the same cells: 0.977 / 0.877 /
0.762 / 0.635 / 0.627 (one source) and 1.010 / 0.845 / 0.796 / 0.612 / 0.561
(three); the default ensemble: 0.768 / 0.493 / 0.358 / 0.255 / 0.235 and
0.883 / 0.648 / 0.529 / 0.392 / 0.359. The fine-tuned
model is better than the small one on its own head in 9 of the 10 cells
(single sources at 20 dB: 0.39 times eLORETA's EMD instead of 0.47, about
what the default ensemble reaches without fine-tuning) and worse on the
template it came from (single sources at 30 dB: 0.223 against 0.203), so
keep it for that subject.

This example runs the same calls for a few dozen steps only, to show them.
"""

# %%
import matplotlib.pyplot as plt

from mne_piunet import apply_piunet, read_model
from mne_piunet.datasets import load_sample_head
from mne_piunet.simulation import NoiseConfig, SimulationConfig
from mne_piunet.training import TrainConfig, train_model

head = load_sample_head()
small = read_model("small")
default = read_model("default")

# %%
# The network and grid must be the pretrained model's; the training
# distribution is that of the small model's last stage (coloured noise, SNR
# -10 to 30 dB, 10 % noise-only samples, fitted amplitudes).
# ``scripts/finetune_sample_head.py`` uses 8 noise covariances and
# ``time_limit=900``; here 2 and 40 steps.
config = TrainConfig(
    network=small.config,
    grid_shape=small.grid.shape,
    simulation=SimulationConfig(
        n_sources=(1, 5),
        single_source_prob=0.2,
        snr_db=(-10.0, 30.0),
        noise_only_prob=0.1,
    ),
    noise=NoiseConfig(n_covariances=2),
    lr=1e-4,
    n_steps=40,
    val_every=20,
    val_samples=32,
    seed=7,
)
tuned = train_model(head.forward, config, pretrained=small, time_limit=900)
print(tuned)
card = tuned.info["training"]
print(f"validation L1 {card['val_l1']:.4f} (eLORETA init {card['val_l1_init']:.4f})")

# %%
# The fine-tuned model is a :class:`~mne_piunet.PIUNet` like any other: save
# it with ``tuned.save("sub-01.safetensors")`` and pass it (or the file) as
# ``model`` to the ``apply_piunet*`` functions for that subject.
stc = apply_piunet(head.evoked, head.forward, tuned, head.noise_cov)
stc_default = apply_piunet(head.evoked, head.forward, default, head.noise_cov)
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
for name, estimate in (("default", stc_default), ("fine-tuned (40 steps)", stc)):
    ax.plot(1e3 * estimate.times, 1e9 * estimate.data.max(axis=0), label=name)
ax.set(xlabel="time (ms)", ylabel="map maximum (nA·m)")
ax.legend()
plt.show()
