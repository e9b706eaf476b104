"""
MEG and EEG+MEG: the sample subject's visual response
=====================================================

The MNE sample subject's left-visual response, recorded with 306 Neuromag
Vectorview MEG channels (204 planar gradiometers, 102 magnetometers) and 60
EEG electrodes, localised on a 7 mm volume source space inside the
subject's own BEM from MEG alone and from MEG and EEG together, next to
MNE's eLORETA and dSPM, all with the recording's noise covariance.

``apply_piunet`` whitens mixed channel types with the noise covariance and
applies the projectors (here SSP and the EEG average reference) exactly as
MNE's inverse does. Without ``model`` it picks one from the data's channel
types: ``"meg"`` (fine-tuned for this MEG system on a template head) for
MEG alone, ``"eeg-meg"`` (the same with this recording's electrodes) for MEG
and EEG together. Neither has seen this head. See the benchmarks page for
how accurate each is.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from mne.minimum_norm import apply_inverse, make_inverse_operator
from mne.transforms import apply_trans, invert_transform

from mne_piunet import apply_piunet
from mne_piunet.datasets import load_sample_head
from mne_piunet.viz import plot_projections

head = load_sample_head(meg=True, eeg=True)  # 366 channels: MEG, EEG
print(head.evoked)
window = (0.08, 0.2)  # the visual response

# %%
# Three inverses for each set of sensors. The forward holds both kinds of
# channels: each call uses the channels of the data it is given.
estimates = {}
for sensors in ("meg", ["meg", "eeg"]):
    evoked = head.evoked.copy().pick(sensors)
    label = "MEG" if sensors == "meg" else "EEG+MEG"
    inv = make_inverse_operator(evoked.info, head.forward, head.noise_cov, loose=1)
    estimates[label] = {
        "3D-PIUNet": apply_piunet(evoked, head.forward, noise_cov=head.noise_cov),
        "eLORETA": apply_inverse(evoked, inv, 1 / 9, "eLORETA"),
        "dSPM": apply_inverse(evoked, inv, 1 / 9, "dSPM"),
    }

# %%
# The mean map over the response window, as maximum projections of the 7 mm
# grid. A left-visual-field stimulus should activate the right occipital
# cortex (x > 0, far behind the origin).
for label, stcs in estimates.items():
    maps = [stc.copy().crop(*window).data.mean(axis=1) for stc in stcs.values()]
    units = ["A·m", "A·m", "dSPM value"]
    fig = plot_projections(
        maps, head.forward, titles=list(stcs), units=units, show=False
    )
    fig.suptitle(f"{label}: mean over {window[0] * 1e3:.0f}-{window[1] * 1e3:.0f} ms")

# %%
# Where each mean map peaks (the subject's MRI coordinates, mm; the occipital
# pole is near y = -90), and the map maximum over time, each method scaled to
# its own largest value. These few-trial responses are noisy: on this
# subject's real MEG the learned maps follow the response closely but sit
# less far back than eLORETA's (see the real-data page), so look at both.
mri_head = head.forward["mri_head_t"]
positions = 1e3 * apply_trans(invert_transform(mri_head), head.forward["source_rr"])
fig, axes = plt.subplots(2, 1, sharex=True, figsize=(7, 5), layout="constrained")
for ax, (label, stcs) in zip(axes, estimates.items(), strict=True):
    for name, stc in stcs.items():
        mean = stc.copy().crop(*window).data.mean(axis=1)
        x, y, z = positions[np.argmax(mean)]
        print(f"{label:8s} {name:10s} peak x={x:4.0f} y={y:4.0f} z={z:4.0f} mm")
        trace = stc.data.max(axis=0)
        ax.plot(stc.times * 1e3, trace / trace.max(), label=name)
    ax.axvspan(window[0] * 1e3, window[1] * 1e3, color="0.9", zorder=0)
    ax.set(ylabel="map maximum (norm.)", title=label)
    ax.legend(loc="upper right")
axes[-1].set(xlabel="time (ms)")
