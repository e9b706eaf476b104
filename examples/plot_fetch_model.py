"""
Fetch a pretrained model and read its model card
================================================

Pretrained weights come the way MNE datasets do: one call, cached under
MNE's data folder, checked against the SHA256 in the package's registry.
Models that ship inside the package (``"default"`` and ``"small"``) resolve
offline; others (``"large"``) download once on request.
Weights are stored as safetensors: loading them never runs code.
"""

# %%
import json

import matplotlib.pyplot as plt

from mne_piunet import read_model
from mne_piunet.datasets import cached_models, fetch_model

for row in cached_models():
    print(row["name"], "-", row["description"])
    print("   ", row["cached"] or "not cached yet")

fname = fetch_model("default")
model = read_model(fname)
print(model)

# %%
# The model card: the head model and channels it was trained for, the
# physics init, and the training runs. The default is an ensemble
# (:class:`~mne_piunet.UNetEnsemble`: the mean of two networks' maps), whose
# card lists each member's own card; a single network's card is its own.
info = model.info
print("init:", info["init"], " lambda2:", round(info["lambda2"], 4))
head = info["head_model"]
print(f"head model: {head['subject']}, {head['n_channels']} channels, ", end="")
print(f"{head['n_sources']} sources ({head['src_kind']})")
ensemble = info.get("ensemble", {"members": [info], "weights": [1.0]})
for member, weight in zip(ensemble["members"], ensemble["weights"], strict=True):
    training = member["training"]
    print(f"weight {weight:g}:", json.dumps(training["config"]["network"]))
    print(
        f"  {training['samples_seen']} samples, {training['wall_time_s'] / 3600:.1f} h"
    )
    print(f"  on {training['hardware']}")
    if "pretrained" in training:  # a fine-tuning records the run it started from
        first = training["pretrained"]
        print(f"  fine-tuned from a model trained on {first['samples_seen']} samples")

# %%
# Each member's validation error against the error of its own init (eLORETA)
# and of an all-zero map (the truth is sparse, so zeros score well), on the
# fixed, seeded validation set of simulated samples of its training run.
fig, axes = plt.subplots(
    1, len(ensemble["members"]), figsize=(8, 3), layout="constrained", squeeze=False
)
names = ["eLORETA init", "all-zero map", "3D-PIUNet"]
for ax, member in zip(axes[0], ensemble["members"], strict=True):
    training = member["training"]
    ax.bar(names, [training[k] for k in ("val_l1_init", "val_l1_zero", "val_l1")])
    network = training["config"]["network"]
    ax.set(ylabel="validation L1 error", title=f"{network['base_channels']} channels")
    ax.tick_params(axis="x", labelrotation=20)
plt.show()
