"""
Train a small model for your own montage
========================================

A model works on any EEG forward (its init comes from that forward), but it
works best on the channels and head model it was trained on. Here we train
one for a 32-channel BioSemi cap on the template head: the template forward
for that montage, fresh simulated samples every step, the physics init from
that forward, and an L1 loss on the source field.

This run is a demonstration (60 steps, a few minutes on a laptop). Its L1
error falls below the init's within a few steps, but mostly because the true
fields are sparse: an all-zero map already scores well (the model card
records that floor as ``val_l1_zero``), and useful maps need a far longer run.
The default model took 8,900 steps of 8 samples (2.7 hours on 2 CPU cores) to
reach a validation L1 of 0.067, against 0.096 for an all-zero map and 0.179
for eLORETA, before a 41-minute fine-tuning on 1 to 5 sources; the paper
trained a 10 M-parameter network for about 5 GPU hours. Pass ``checkpoint_dir``
and ``resume=True`` to continue a run.
"""

# %%
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from mne_piunet import UNetConfig, apply_piunet
from mne_piunet.simulation import SimulationConfig, simulate_evoked
from mne_piunet.template import make_template_forward, make_template_info
from mne_piunet.training import TrainConfig, train_model

fwd = make_template_forward(montage="biosemi32")
print(fwd)

config = TrainConfig(
    network=UNetConfig(base_channels=8, num_res_blocks=1, num_groups=4, num_heads=2),
    simulation=SimulationConfig(n_sources=(1, 5)),
    batch_size=4,
    n_steps=60,
    val_samples=16,
    val_every=20,
    lr=1e-3,
    seed=0,
)
run_dir = Path(tempfile.mkdtemp())  # checkpoints and the training log
# verbose=True would show a progress bar with the running loss
model = train_model(fwd, config, checkpoint_dir=run_dir, verbose=False)
print(model)

# %%
# The log has one line per validation: the running training loss, the
# validation loss, and the validation loss of the init alone.
log = [json.loads(line) for line in (run_dir / "train_log.jsonl").open()]
fig, ax = plt.subplots(layout="constrained")
steps = [row["step"] for row in log]
ax.plot(steps, [row["train_loss"] for row in log], label="training (running)")
ax.plot(steps, [row["val_l1"] for row in log], "o-", label="validation")
ax.axhline(log[0]["val_l1_init"], color="k", ls="--", label="eLORETA init")
ax.axhline(model.info["training"]["val_l1_zero"], color="0.5", ls=":", label="zero map")
ax.set(xlabel="step", ylabel="L1 error on the source field")
ax.legend()

# %%
# The model card travels with the weights: what it was trained on, for how
# long, and how it did on its validation set against its own init.
summary = model.info["training"]
print(f"samples seen: {summary['samples_seen']}, {summary['wall_time_s']:.0f} s")
print(f"validation L1 {summary['val_l1']:.3f}, init alone {summary['val_l1_init']:.3f}")
print(f"an all-zero map: {summary['val_l1_zero']:.3f}")

# %%
# Save it and use it like any other model file.
fname = run_dir / "biosemi32-demo.safetensors"
model.save(fname)
_, evoked = simulate_evoked(
    fwd, make_template_info("biosemi32"), n_sources=1, tmax=0.2, seed=1
)
stc = apply_piunet(evoked, fwd, fname)
print(stc)
fig = evoked.plot_topomap(times=[0.1, 0.15], show=False)
fig.suptitle("simulated data of the 32-channel cap")

# %%
# Another way to get a model for your montage: fine-tuning starts from a
# pretrained model instead of random weights (same network configuration and
# grid), ``train_model(fwd, config, pretrained="small")``, or
# ``finetune_model(fwd, "default")`` for the default ensemble.
