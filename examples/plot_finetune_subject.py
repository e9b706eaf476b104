r"""
Fine-tune the default model on your own head model
==================================================

The pretrained models were trained on a template head. With an MRI-based
forward of your participant (here the MNE sample subject: real 3-layer BEM,
its 60 digitised electrodes, a 7 mm volume source space), you can fine-tune
the default on sources simulated through *that* forward, on a CPU, in
minutes: :func:`mne_piunet.training.finetune_model` trains the networks of
the default ensemble (all of them, the time split evenly, or those
``members`` names) with the recipe each was trained with, read from its
model card, and returns an ensemble like the default.

What it buys, measured with 15 minutes on 2 CPU cores (the large network
alone, ``members=[1]``: 2,000 steps of 8 samples) and the benchmark's seeded
test sets on the sample head (50 samples per cell; median normalised EMD,
lower is better)::

    mne-piunet finetune sample-eeg-vol7mm-fwd.fif --members 1 \
        --time-limit 900 --out sample-head-large.safetensors
    mne-piunet benchmark --model sample-head-large.safetensors \
        --n-sources 1 2 3 5 10 --n-samples 50 --methods PIUNet

========  ==============  ==============  ==============
SNR (dB)  one source      three sources   ten sources
========  ==============  ==============  ==============
0         0.768 -> 0.762  0.963 -> 0.939  1.267 -> 1.378
5         0.493 -> 0.469  0.600 -> 0.583  1.099 -> 1.112
10        0.358 -> 0.332  0.554 -> 0.561  0.981 -> 1.074
20        0.255 -> 0.188  0.408 -> 0.387  0.747 -> 0.808
30        0.235 -> 0.168  0.448 -> 0.431  0.771 -> 0.869
========  ==============  ==============  ==============

Each cell: default -> fine-tuned. eLORETA on the same cells: 0.977 / 0.877
/ 0.762 / 0.635 / 0.627 (one source), 0.968 / 0.873 / 0.760 / 0.615 / 0.632
(three) and 1.046 / 0.912 / 0.789 / 0.664 / 0.651 (ten). Single sources at
20 dB get 0.30 times eLORETA's EMD (the default: 0.40), and the median
distance from the source to the map's maximum drops below eLORETA's at
every SNR (9.9 against 11.0 mm at 20 dB; the default: 15.7 mm); five and
ten simultaneous sources get worse. The subject's real visual responses
stay where they were (occipital, the map maximum following the GFP).

Fine-tuning both networks (``members=None``, the default of
:func:`~mne_piunet.training.finetune_model`) did as well on simulations
(single sources at 20 dB 0.33 times eLORETA's EMD) but, in two runs with
different seeds, moved the real right-visual response's mean map forward
(y = -21 and -49 mm instead of about -70) and lowered the share of the
data it explains: check real data before you trust a fine-tuned model. A
fine-tuned model forgets some of the template, so keep it for that subject
(see the documentation's benchmarks page, *Fine-tuning on the subject's
head*).

This example runs the same call for a few steps only, to show it.
"""

# %%
import matplotlib.pyplot as plt

from mne_piunet import apply_piunet, read_model
from mne_piunet.datasets import load_sample_head
from mne_piunet.training import finetune_model

head = load_sample_head()
default = read_model("default")

# %%
# The model's grid must hold the subject's source space. The large network
# (``members=[1]``) goes on with its own training distribution (1 to 15
# sources and focal single sources, the mass-normalised loss) and coloured
# noise from ``n_covariances`` covariances (the measurement above: 8 and
# ``time_limit=900``; here 2 and 10 steps); the small one is kept.
tuned = finetune_model(
    head.forward,
    default,
    members=[1],
    time_limit=None,
    n_steps=10,
    n_covariances=2,
)
print(tuned)
run = tuned.info["ensemble"]["members"][1]["training"]
print(
    f"{run['steps']} steps: validation L1 {run['val_l1']:.4f} "
    f"(eLORETA init {run['val_l1_init']:.4f})"
)

# %%
# The fine-tuned model is a :class:`~mne_piunet.PIUNet` like any other: save
# it with ``tuned.save("sub-01.safetensors")`` and pass it (or the file) as
# ``model`` to the ``apply_piunet*`` functions for that subject.
stc = apply_piunet(head.evoked, head.forward, tuned, head.noise_cov)
stc_default = apply_piunet(head.evoked, head.forward, default, head.noise_cov)
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
for name, estimate in (("default", stc_default), ("fine-tuned (10 steps)", stc)):
    ax.plot(1e3 * estimate.times, 1e9 * estimate.data.max(axis=0), label=name)
ax.set(xlabel="time (ms)", ylabel="map maximum (nA·m)")
ax.legend()
plt.show()
