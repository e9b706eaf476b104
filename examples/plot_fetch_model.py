"""
Fetch a pretrained model and read its model card
================================================

Pretrained weights come the way MNE datasets do: one call, cached under
MNE's data folder, checked against the SHA256 in the package's registry.
Models that ship inside the package (``"default"`` and ``"robust"``, the
default fine-tuned for many montages) resolve offline.
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
# physics init, and the training run.
info = model.info
print("init:", info["init"], " lambda2:", round(info["lambda2"], 4))
head = info["head_model"]
print(f"head model: {head['subject']}, {head['n_channels']} channels, ", end="")
print(f"{head['n_sources']} sources ({head['src_kind']})")
training = info["training"]
print(json.dumps(training["config"]["network"], indent=1))
print(f"{training['samples_seen']} samples, {training['wall_time_s'] / 3600:.1f} h")
print(f"on {training['hardware']}")
if "pretrained" in training:  # a fine-tuning records the run it started from
    first = training["pretrained"]
    print(f"fine-tuned from a model trained on {first['samples_seen']} samples")

# %%
# Its validation error against the error of its own init (eLORETA) and of an
# all-zero map (the truth is sparse, so zeros score well), on a fixed, seeded
# validation set of simulated samples.
fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
names = ["eLORETA init", "all-zero map", "3D-PIUNet"]
ax.bar(names, [training[k] for k in ("val_l1_init", "val_l1_zero", "val_l1")])
ax.set(ylabel="validation L1 error", title="default model")
