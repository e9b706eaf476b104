"""
Time courses of brain regions (volume labels from the aseg atlas)
=================================================================

Region-of-interest time courses are how many analyses continue after source
imaging. For a volume source space that was set up with the subject's MRI,
:func:`mne.extract_label_time_course` takes an atlas volume (here the
FreeSurfer ``aseg.mgz`` of the sample subject) and the names of the regions,
and works on 3D-PIUNet's estimates exactly as on MNE's own.
"""

# %%
import matplotlib.pyplot as plt
import mne
from mne.minimum_norm import apply_inverse, make_inverse_operator

from mne_piunet import apply_piunet
from mne_piunet.datasets import load_sample_head

head = load_sample_head(condition="Left visual")
evoked, fwd = head.evoked, head.forward
stc = apply_piunet(evoked, fwd, noise_cov=head.noise_cov)
inv = make_inverse_operator(evoked.info, fwd, head.noise_cov, loose=1.0)
stc_eloreta = apply_inverse(evoked, inv, 1.0 / 9.0, "eLORETA")

# %%
# The atlas lists its regions; we take the cortex of both hemispheres and the
# cerebellum. A left visual stimulus is processed in the right visual cortex,
# so the right cortex should respond more.
aseg = head.subjects_dir / "sample" / "mri" / "aseg.mgz"
regions = ["Left-Cerebral-Cortex", "Right-Cerebral-Cortex", "Left-Cerebellum-Cortex"]
print(f"{len(mne.get_volume_labels_from_aseg(aseg))} regions in the atlas")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharex=True, layout="constrained")
for ax, (name, estimate) in zip(
    axes, (("3D-PIUNet", stc), ("eLORETA", stc_eloreta)), strict=True
):
    courses = mne.extract_label_time_course(
        estimate, (aseg, regions), fwd["src"], mode="mean"
    )
    for region, course in zip(regions, courses, strict=True):
        ax.plot(1e3 * estimate.times, 1e9 * course, label=region)
    ax.set(title=name, xlabel="time (ms)", ylabel="mean amplitude (nA·m)")
axes[0].legend(fontsize=8)
plt.show()

# %%
# The two methods share the units (A·m per source): 3D-PIUNet fits each time
# point's amplitude to the data, so its region means are directly comparable
# to eLORETA's. 3D-PIUNet's maps are more focal, so a region's *mean* is
# smaller when the activity occupies only part of it; ``mode="max"`` (or
# smaller regions, e.g. from ``aparc+aseg.mgz``) gives the peak instead.
