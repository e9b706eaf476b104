"""
Localise a visual evoked response: 3D-PIUNet next to eLORETA
=============================================================

The MNE sample subject's left-visual evoked response (60 EEG channels) is
localised on a 7 mm volume source space inside the subject's own 3-layer BEM,
with the default pretrained model and with eLORETA, the MNE inverse that
3D-PIUNet starts from, both with the recording's own noise covariance (what
MNE recommends). The network was trained on a template head (fsaverage,
61 standard electrodes); this head, its electrodes and its conductor geometry
are new to it.

With the full MNE sample dataset you would build the forward from
``mne.datasets.sample.data_path()``; this example uses the offline copy of
the sample subject that :func:`mne_piunet.datasets.load_sample_head` reads
(set ``MNE_PIUNET_TESTING_DATA`` to its folder).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from mne.minimum_norm import apply_inverse, make_inverse_operator

from mne_piunet import apply_piunet
from mne_piunet.datasets import load_sample_head

head = load_sample_head(spacing=0.007)
evoked = head.evoked
print(evoked)
print(head.forward)

# %%
# One call gives the class MNE's ``apply_inverse`` would return for a volume
# source space. The init is eLORETA with this subject's noise covariance; the
# network refines where each time point's activity is (the shapes of its maps
# averaged over 40 ms, ``pattern_smoothing``), the init gives each source's
# direction, and the amplitude of the refined map is fitted to each time
# point's (whitened) data, so moments are in A·m.
stc_piunet = apply_piunet(evoked, head.forward, noise_cov=head.noise_cov)
inv = make_inverse_operator(evoked.info, head.forward, head.noise_cov, loose=1.0)
stc_eloreta = apply_inverse(evoked, inv, 1.0 / 9.0, "eLORETA")
print(stc_piunet)

# %%
# Time courses: the strongest source's amplitude at each time point next to
# the EEG's global field power (GFP). A good inverse follows the response and
# stays low in the baseline.
gfp = evoked.copy().apply_proj().data.std(axis=0)
fig, axes = plt.subplots(3, 1, sharex=True, figsize=(7, 6), layout="constrained")
axes[0].plot(evoked.times * 1e3, gfp * 1e6, color="k")
axes[0].set(ylabel="GFP (µV)", title="EEG")
estimates = (("3D-PIUNet", stc_piunet), ("eLORETA", stc_eloreta))
for ax, (name, stc) in zip(axes[1:], estimates, strict=True):
    ax.plot(stc.times * 1e3, stc.data.max(axis=0) * 1e9, label="map maximum")
    _, peak_time = stc.get_peak(tmin=0.08, tmax=0.2)
    peak_vertex, _ = stc.get_peak(tmin=0.08, tmax=0.2, vert_as_index=True)
    ax.plot(stc.times * 1e3, stc.data[peak_vertex] * 1e9, label="peak source")
    ax.axvspan(80, 200, color="0.9", zorder=0)
    ax.set(ylabel="nA·m", title=name)
    ax.legend(loc="upper right")
axes[-1].set(xlabel="time (ms)")

# %%
# The maps at the peak of the visual response, on the subject's MRI. A
# left-visual-field stimulus should activate the right occipital cortex.
src = head.forward["src"]
for name, stc in (("3D-PIUNet", stc_piunet), ("eLORETA", stc_eloreta)):
    _, peak_time = stc.get_peak(tmin=0.08, tmax=0.2)
    print(f"{name}: peak at {peak_time * 1e3:.0f} ms")
    fig = stc.plot(
        src,
        subject="sample",
        subjects_dir=head.subjects_dir,
        initial_time=peak_time,
        mode="stat_map",
        show=False,
    )
    fig.suptitle(name)

# %%
# Both estimates are ordinary MNE objects: everything MNE does with source
# estimates (labels, morphing, saving) works on them. For instance, how
# focal each map is: the share of the total activity in the 10% strongest
# sources at the peak.
for name, stc in (("3D-PIUNet", stc_piunet), ("eLORETA", stc_eloreta)):
    _, peak_time = stc.get_peak(tmin=0.08, tmax=0.2)
    amp = np.sort(stc.copy().crop(peak_time, peak_time).data[:, 0])
    share = amp[-len(amp) // 10 :].sum() / amp.sum()
    print(f"{name}: {share:.0%} of the activity in 10% of the sources")
