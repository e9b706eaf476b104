"""
How much to trust a map: the calibrated uncertainty
====================================================

A learned inverse draws sharp maps whether or not the data pin the sources
down. With ``return_uncertainty=True``, :func:`mne_piunet.apply_piunet` also
says how far each time point's map is expected to be from the truth, and
where the activity may be: a probability over the sources whose credible
regions were calibrated on simulated sources with known positions (the
benchmarks page checks them on a head the calibration never saw).

Here: the MNE sample subject's left-visual evoked response (60 EEG channels,
7 mm volume, the recording's noise covariance), as in
:ref:`sphx_glr_auto_examples_plot_sample_visual.py`.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from mne_piunet import apply_piunet
from mne_piunet.datasets import load_sample_head
from mne_piunet.viz import plot_projections

head = load_sample_head(spacing=0.007)
evoked = head.evoked
stc, uncertainty = apply_piunet(
    evoked, head.forward, noise_cov=head.noise_cov, return_uncertainty=True
)
print(uncertainty.probability)

# %%
# Over time: the expected normalised earth mover's distance (nEMD: 0 is the
# true map, 1 no better than a flat one) and the volume of the 90 % credible
# region, next to the EEG's global field power. In the baseline the data
# hold little signal, the expected error is high and the region large; over
# the visual response (shaded) both drop.
region = uncertainty.credible_region(0.9)
volume = region.data.sum(axis=0) * 0.7**3  # 7 mm source points, in cm³
gfp = evoked.copy().apply_proj().data.std(axis=0)
times = evoked.times * 1e3
fig, axes = plt.subplots(3, 1, sharex=True, figsize=(7, 6), layout="constrained")
axes[0].plot(times, gfp * 1e6, color="k")
axes[0].set(ylabel="GFP (µV)", title="EEG")
axes[1].plot(times, uncertainty.expected_nemd)
axes[1].set(ylabel="expected nEMD", title="3D-PIUNet: expected error of each map")
axes[2].plot(times, volume)
axes[2].set(ylabel="volume (cm³)", title="90 % credible region", xlabel="time (ms)")
for ax in axes:
    ax.axvspan(80, 200, color="0.9", zorder=0)

baseline, response = evoked.times < 0, (evoked.times >= 0.08) & (evoked.times <= 0.2)
for name, window in (("baseline", baseline), ("80-200 ms", response)):
    print(
        f"{name}: expected nEMD {np.median(uncertainty.expected_nemd[window]):.2f}, "
        f"90% region {np.median(volume[window]):.0f} cm³"
    )

# %%
# At the response's peak: the map, the probability of where the activity
# is, and the map within its 90 % credible region (each point drawn at its
# MRI position, strongest on top). A left-visual-field stimulus should
# activate the right occipital cortex.
_, peak = stc.get_peak(tmin=0.08, tmax=0.2, vert_as_index=False)
index = int(np.argmin(np.abs(stc.times - peak)))
fig = plot_projections(
    [
        stc.data[:, index],
        uncertainty.probability.data[:, index],
        stc.data[:, index] * region.data[:, index],
    ],
    head.forward,
    titles=["3D-PIUNet", "probability", "90 % region"],
    units=["A·m", "per source point", "A·m"],
    show=False,
)
fig.suptitle(f"{peak * 1e3:.0f} ms")
