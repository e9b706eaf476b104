"""
Export a volume estimate to NIfTI for other tools
=================================================

A volume :class:`mne.VolSourceEstimate` becomes a 4D NIfTI image (x, y, z,
time) in the subject's MRI space with :meth:`mne.VolSourceEstimate.as_volume`
(or :meth:`~mne.VolSourceEstimate.save_as_volume` to write it at once), so
3D-PIUNet's maps open in FSL, SPM, AFNI, FreeView, nilearn or any viewer of
NIfTI files.
"""

# %%
import tempfile
from pathlib import Path

import nibabel
import numpy as np
from nilearn.plotting import plot_stat_map

from mne_piunet import apply_piunet
from mne_piunet.datasets import load_sample_head

head = load_sample_head()
stc = apply_piunet(head.evoked, head.forward, noise_cov=head.noise_cov)
stc.crop(0.08, 0.2)  # the visual response

# %%
# One volume per time point, on the source grid (7 mm voxels) placed in the
# subject's MRI space; ``mri_resolution=True`` resamples to the MRI's own
# 1 mm voxels (larger files).
img = stc.as_volume(head.forward["src"], dest="mri", mri_resolution=False)
print(img.shape, img.header.get_zooms())

out = Path(tempfile.mkdtemp()) / "piunet-left-visual.nii.gz"
nibabel.save(img, out)
again = nibabel.load(out)
same = np.allclose(again.affine, img.affine) and np.allclose(
    again.get_fdata(), img.get_fdata()
)
print(f"wrote {out.name}: {again.shape}, read back unchanged: {same}")

# %%
# The mean map over the response, drawn over the subject's T1 with nilearn.
mean = stc.copy().mean().as_volume(head.forward["src"], dest="mri")
t1 = head.subjects_dir / "sample" / "mri" / "T1.mgz"
plot_stat_map(
    mean,
    bg_img=str(t1),
    threshold=0.2 * mean.get_fdata().max(),
    title="3D-PIUNet, mean 80-200 ms",
    display_mode="ortho",
)
