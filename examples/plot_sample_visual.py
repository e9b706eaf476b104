"""
Localise the sample subject's visual response: PIUNet and eLORETA
=================================================================

The MNE sample subject's left-visual evoked response (60 EEG channels) is
localised on a 7 mm volume source space inside its own 3-layer BEM, with the
default model and with eLORETA, MNE's linear inverse that PIUNet starts from.
Real users pass ``mne.datasets.sample.data_path()``; here the offline copy
named by ``MNE_PIUNET_TESTING_DATA`` is used.
"""

import mne

from mne_piunet import apply_piunet
from mne_piunet.datasets import testing_data_path

data = testing_data_path() / "sample"
evoked = mne.read_evokeds(data / "MEG" / "test-ave.fif.gz", condition="Left visual")
evoked = evoked.apply_baseline((None, 0)).pick("eeg")
cov = mne.read_cov(data / "MEG" / "test-cov.fif")
surfs = mne.read_bem_surfaces(
    data / "subjects/sample/bem/sample-1280-1280-1280-bem.fif"
)
bem = mne.make_bem_solution(surfs)
src = mne.setup_volume_source_space(
    "sample", pos=7.0, bem=bem, subjects_dir=data / "subjects"
)
fwd = mne.make_forward_solution(
    evoked.info, data / "MEG" / "sample-trans.fif", src, bem, meg=False
)

# %%
# Both methods on the same data; PIUNet returns MNE's own classes.
stc_piunet = apply_piunet(evoked, fwd, noise_cov=cov)
inv = mne.minimum_norm.make_inverse_operator(evoked.info, fwd, cov, loose=1.0)
stc_elor = mne.minimum_norm.apply_inverse(evoked, inv, 1 / 9, "eLORETA")
print(stc_piunet, stc_elor, sep="\n")

# %%
# The peaks of both maps at the visual response (about 100 ms).
for name, stc in (("PIUNet", stc_piunet), ("eLORETA", stc_elor)):
    vertex, time = stc.get_peak(tmin=0.08, tmax=0.14)
    print(f"{name}: peak at {time * 1e3:.0f} ms")
    stc.plot(
        src,
        subject="sample",
        subjects_dir=data / "subjects",
        initial_time=time,
        mode="glass_brain",
    )
