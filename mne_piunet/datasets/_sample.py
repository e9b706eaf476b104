"""The MNE sample subject's head model from the offline testing data."""

import os
from dataclasses import dataclass
from pathlib import Path

import mne
from mne.utils import logger, verbose

from .._io import data_dir, read_cached, write_cached
from ._testing import CONFIG_KEY, testing_data_path


@dataclass
class SampleHead:
    """The sample subject's response and its head model."""

    evoked: mne.Evoked  #: EEG (average reference) and/or MEG (SSP), baselined
    noise_cov: mne.Covariance
    forward: mne.Forward  #: the evoked's sensors, real 3-layer BEM, volume
    subjects_dir: Path


@verbose
def load_sample_head(
    spacing: float = 0.007,
    *,
    condition: str = "Left visual",
    meg: bool = False,
    eeg: bool = True,
    path: str | os.PathLike | None = None,
    verbose: bool | str | int | None = None,
) -> SampleHead:
    """Load the sample subject's M/EEG data and a volume forward on its real BEM.

    The forward (3-layer BEM, the 60 digitised electrodes and/or the 306
    Neuromag Vectorview MEG sensors, volume grid of ``spacing``) is computed
    once and cached under ``MNE_DATA/MNE-piunet``.

    Parameters
    ----------
    spacing : float
        Volume grid spacing in metres.
    condition : str
        The evoked response: ``"Left visual"``, ``"Right visual"``,
        ``"Left Auditory"`` or ``"Right Auditory"``.
    meg, eeg : bool
        Which sensors to keep (MEG: 204 gradiometers and 102 magnetometers).
    path : path-like | None
        Folder holding ``sample/`` (see :func:`testing_data_path`).
    %(verbose)s

    Returns
    -------
    head : SampleHead
        Evoked response, noise covariance, forward and subjects folder.
    """
    root = testing_data_path(path)
    if root is None:
        raise FileNotFoundError(
            f"The offline sample data were not found (path={path}); set "
            f"{CONFIG_KEY} to the folder that holds sample/"
        )
    sample = root / "sample"
    evoked = mne.read_evokeds(
        sample / "MEG" / "test-ave.fif.gz", condition=condition, verbose=False
    )
    sensors = [kind for kind, keep in (("meg", meg), ("eeg", eeg)) if keep]
    if not sensors:
        raise ValueError("meg and eeg are both False: keep at least one")
    evoked = evoked.apply_baseline((None, 0)).pick(sensors)
    cov = mne.read_cov(sample / "MEG" / "test-cov.fif", verbose=False)
    stem = "-".join(sensors)
    fname = data_dir("sample") / f"sample-{stem}-vol{spacing * 1e3:g}mm-fwd.fif"
    fwd = read_cached(fname, mne.read_forward_solution)
    if fwd is None:
        logger.info(f"Computing the sample subject's {spacing * 1e3:g} mm forward...")
        fwd = _make_sample_forward(sample, evoked.info, spacing, meg, eeg)
        fwd = write_cached(
            fname, fwd, mne.write_forward_solution, mne.read_forward_solution
        )
    return SampleHead(evoked, cov, fwd, sample / "subjects")


def _make_sample_forward(sample, info, spacing, meg, eeg):
    surfs = mne.read_bem_surfaces(
        sample / "subjects/sample/bem/sample-1280-1280-1280-bem.fif", verbose=False
    )
    bem = mne.make_bem_solution(surfs, verbose=False)
    src = mne.setup_volume_source_space(
        "sample",
        pos=spacing * 1e3,
        bem=bem,
        subjects_dir=sample / "subjects",
        verbose=False,
    )
    trans = sample / "MEG" / "sample-trans.fif"
    return mne.make_forward_solution(
        info, trans, src, bem, meg=meg, eeg=eeg, verbose=False
    )
