"""
Simulated sources on the template: 3D-PIUNet, eLORETA and the metrics
=====================================================================

The package carries its own head model: fsaverage with a 3-layer BEM and the
61-channel easycap-M10 montage (:func:`mne_piunet.template.make_template_forward`,
offline; the first call builds the BEM in a few minutes and caches it). We
simulate an evoked response from two Gaussian source blobs, as in the paper,
localise it with the default model and with eLORETA, and score both with the
paper's metrics.
"""

# %%
import mne
import numpy as np
from mne.minimum_norm import apply_inverse, make_inverse_operator

from mne_piunet import apply_piunet, metrics
from mne_piunet._grid import forward_source_positions
from mne_piunet.simulation import simulate_evoked
from mne_piunet.template import make_template_forward, make_template_info
from mne_piunet.viz import plot_projections

fwd = make_template_forward()
stc_true, evoked = simulate_evoked(
    fwd, make_template_info(), n_sources=2, snr_db=10.0, tmin=0.0, tmax=0.3, seed=7
)
evoked.plot_joint(title="simulated EEG (SNR 10 dB)")

# %%
# Both inverses return vector source estimates (``pick_ori="vector"``) so that
# the metrics see the full dipole moments. No noise covariance is given, so
# both use MNE's ad-hoc diagonal one: right for the white noise simulated here.
stc_piunet = apply_piunet(evoked, fwd, pick_ori="vector")
cov = mne.make_ad_hoc_cov(evoked.info)
inv = make_inverse_operator(evoked.info, fwd, cov, loose=1.0)
stc_eloreta = apply_inverse(evoked, inv, 1.0 / 9.0, "eLORETA", pick_ori="vector")

# %%
# Scores at the time of the strongest true activity: normalised earth mover's
# distance (0 is perfect, 1 is as good as a flat map) and the distance from
# the strongest true source to the nearest peak of the estimate.
t_peak = np.linalg.norm(stc_true.data, axis=1).sum(axis=0).argmax()
pos = forward_source_positions(fwd)
truth = stc_true.data[:, :, t_peak]
centers = np.argsort(np.linalg.norm(truth, axis=1))[-1:]
maps = [np.linalg.norm(truth, axis=1)]
for name, stc in (("eLORETA", stc_eloreta), ("3D-PIUNet", stc_piunet)):
    est = stc.data[:, :, t_peak]
    nemd = metrics.normalized_emd(truth, est, pos, resolution=0.014)
    le, missed = metrics.localization_error(centers, est, pos)
    print(f"{name:10s} nEMD {nemd:.2f}  loc. error of the strongest source {le:.0f} mm")
    maps.append(np.linalg.norm(est, axis=1))

# %%
# The maps as maximum projections (the template's source space is a set of
# points inside the fsaverage brain, so ``stc.plot`` has no MRI to draw on).
plot_projections(maps, fwd, titles=["truth", "eLORETA", "3D-PIUNet"])
