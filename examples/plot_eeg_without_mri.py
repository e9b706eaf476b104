"""
EEG without an MRI: the cortical fsaverage template
===================================================

Most EEG studies have no MRI of their participants. MNE's answer is to
compute the forward model on the ``fsaverage`` template brain with the
participant's electrode positions (digitised, or a standard montage) and to
show the results on the template cortex. mne-piunet builds that template
offline: the fsaverage5 cortex (the white surfaces nilearn ships, about
20,000 sources whose numbers are valid fsaverage vertices) inside a 3-layer
fsaverage BEM, so the estimates are :class:`mne.SourceEstimate` objects on
fsaverage, ready to morph, cut into labels or average across participants.

Here the MNE sample subject's left-visual response is treated as if there
were no MRI: only its 60 digitised electrode positions are used (their head
frame, like fsaverage's, is defined by the nasion and the ear points, so no
coregistration is needed; the electrodes are projected onto the template
scalp). With internet, ``mne.datasets.fetch_fsaverage`` gives the real
fsaverage BEM, which :func:`~mne_piunet.template.make_template_forward` then
uses instead of its approximation.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from mne.minimum_norm import apply_inverse, make_inverse_operator

from mne_piunet import apply_piunet
from mne_piunet.datasets import load_sample_head
from mne_piunet.template import make_template_forward
from mne_piunet.viz import plot_cortex

head = load_sample_head()
evoked, noise_cov = head.evoked, head.noise_cov
montage = evoked.get_montage()  # the digitised positions, nothing else
fwd = make_template_forward(montage, source_space="surface")
print(fwd)

# %%
# Because the channels of the template forward are the recording's own,
# the usual MNE calls apply. ``pick_ori="normal"`` keeps the component along
# the cortical normals, as MNE users expect on a surface. The network works
# on a 7 mm grid; on the cortex its map is the prior of a minimum norm of
# the data at the vertices, sharpened where the data are clean enough
# towards the vertices that alone explain them best, which puts the
# activity on the sulcal walls (see the documentation's method page).
stc = apply_piunet(evoked, fwd, noise_cov=noise_cov, pick_ori="normal")
inv = make_inverse_operator(evoked.info, fwd, noise_cov, loose=1.0)
stc_eloreta = apply_inverse(evoked, inv, 1.0 / 9.0, "eLORETA", pick_ori="normal")
print(stc)
print("vertex numbers (fsaverage):", [v[:5] for v in stc.vertices])

# %%
# Both maps at the peak of the response. For this left-visual stimulus both
# methods' mean maps over 80-200 ms peak in the right occipital cortex
# (the documentation's real-data page); the learned map is the more focal
# one. The figures are drawn with matplotlib, so they also work without a
# 3D display.
peak = stc.copy().crop(0.08, 0.2).get_peak(mode="abs")[1]
for name, estimate in (("3D-PIUNet", stc), ("eLORETA", stc_eloreta)):
    fig = plot_cortex(estimate, time=peak, show=False)
    fig.suptitle(f"{name}, t = {peak * 1e3:.0f} ms")

# %%
# Time courses at each method's strongest vertex.
fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
for name, estimate in (("3D-PIUNet", stc), ("eLORETA", stc_eloreta)):
    row = np.abs(estimate.data).max(axis=1).argmax()
    course = estimate.data[row] / np.abs(estimate.data[row]).max()
    ax.plot(1e3 * estimate.times, course, label=name)
ax.set(xlabel="time (ms)", ylabel="normal moment (scaled)")
ax.legend()
plt.show()
