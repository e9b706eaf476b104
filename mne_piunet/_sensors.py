"""Sensor helpers: picks, channel types, the average reference, infos for a forward.

The one home of these rules for inference, training, simulation and
benchmarks, so that the network sees data referenced the same way everywhere.
"""

from copy import deepcopy

import mne
import numpy as np
from mne.proj import make_eeg_average_ref_proj
from mne.utils import logger

#: Fewer channels than this cannot constrain a source image.
MIN_CHANNELS = 16
#: The channel types an inverse uses, as MNE's make_inverse_operator.
DATA_TYPES = dict(meg=True, eeg=True, ref_meg=False)


def covariance_root(cov):
    """Return ``C`` with ``C @ C.T == cov``: white noise times it has that covariance.

    From the eigendecomposition, so that rank-deficient covariances (after
    projectors) work; negative round-off eigenvalues count as zero.
    """
    evals, evecs = np.linalg.eigh(cov)
    return evecs * np.sqrt(evals.clip(min=0))


def pick_good_channels(info):
    """Return ``info`` restricted to its good MEG and EEG channels."""
    picks = mne.pick_types(info, **DATA_TYPES, exclude="bads")
    if len(picks) == 0:
        raise ValueError(
            "No good MEG or EEG channels found in the data (channel types "
            f"present: {sorted(set(info.get_channel_types()))})"
        )
    n_other = len(info["ch_names"]) - len(mne.pick_types(info, **DATA_TYPES))
    if n_other:
        logger.info(f"    Ignoring {n_other} channel(s) that are not MEG or EEG")
    return mne.pick_info(info, picks)


def check_channel_count(info):
    """Refuse too few sensors to constrain a source image."""
    if len(info["ch_names"]) < MIN_CHANNELS:
        raise ValueError(
            f"The data have {len(info['ch_names'])} good "
            f"{'/'.join(channel_types(info))} channel(s) the forward models; "
            f"source imaging needs at least {MIN_CHANNELS} sensors spread over "
            "the head"
        )


def channel_types(info):
    """Sorted MEG/EEG channel types of ``info``, e.g. ``["eeg", "grad", "mag"]``."""
    picks = mne.pick_types(info, **DATA_TYPES, exclude=())
    return sorted(set(info.get_channel_types(picks)))


def modality(ch_types):
    """``"EEG"``, ``"MEG"`` or ``"EEG+MEG"`` for a list of channel types."""
    meg = any(t in ("grad", "mag") for t in ch_types)
    eeg = "eeg" in ch_types
    return "EEG+MEG" if meg and eeg else ("MEG" if meg else "EEG")


def average_reference(data, axis=0):
    """Subtract the mean over channels (numpy array or torch tensor).

    For EEG channels only, this is what MNE's average reference projector does.
    """
    if hasattr(data, "dim"):  # torch
        return data - data.mean(dim=axis, keepdim=True)
    return data - data.mean(axis=axis, keepdims=True)


def white_noise_variances(gain, sources, snr_db):
    """Per-sample variance of white EEG noise giving ``snr_db`` (benchmark's rule).

    Parameters
    ----------
    gain : ndarray, shape (n_channels, n_points * 3)
        The forward's gain.
    sources : ndarray, shape (n_samples, n_points, 3)
        The dipole moments.
    snr_db : ndarray, shape (n_samples,)
        The SNRs: the average-referenced clean signal's mean power over the
        noise variance, in dB.

    Returns
    -------
    variances : ndarray, shape (n_samples,)
    """
    clean = average_reference(gain @ sources.reshape(len(sources), -1).T)
    return (clean**2).mean(axis=0) / 10 ** (snr_db / 10)


def eeg_mask(info):
    """Boolean mask of the EEG channels of ``info``, in its channel order."""
    return np.array(info.get_channel_types()) == "eeg"


def reference_eeg(data, eeg, axis=0):
    """Average-reference the EEG entries (mask ``eeg``) of ``data`` along ``axis``.

    MEG entries are left as they are; with EEG alone this is
    :func:`average_reference`. Works on numpy arrays and torch tensors.
    """
    if bool(eeg.all()):
        return average_reference(data, axis)
    if not bool(eeg.any()):
        return data
    data = data.clone() if hasattr(data, "clone") else data.copy()
    index = [slice(None)] * data.ndim
    index[axis] = eeg
    data[tuple(index)] = average_reference(data[tuple(index)], axis)
    return data


def noise_levels(info):
    """Per-channel noise standard deviation of MNE's ad-hoc covariance.

    What makes gradiometers, magnetometers and electrodes comparable: data
    divided by it are in units of each channel's typical sensor noise.
    """
    return np.sqrt(mne.make_ad_hoc_cov(info, verbose=False).data)


def forward_data_info(forward, sfreq=1000.0):
    """Measurement info of a forward's MEG and EEG channels (EEG referenced).

    An EEG forward gets :func:`forward_eeg_info`; with MEG the channels keep
    the forward's coil definitions and device-to-head transform.
    """
    if channel_types(forward["info"]) == ["eeg"]:
        return forward_eeg_info(forward, sfreq)
    fwd_info = forward["info"]
    info = mne.create_info(fwd_info["ch_names"], sfreq, fwd_info.get_channel_types())
    with info._unlock():
        info["chs"] = deepcopy(fwd_info["chs"])
        info["dev_head_t"] = deepcopy(fwd_info["dev_head_t"])
    if "eeg" in info.get_channel_types():
        info = add_average_reference_projector(info, activate=True)
    return info


def add_average_reference_projector(info, *, activate=False):
    """Return a copy of ``info`` with an average reference projector (if missing)."""
    if any(p["desc"] == "Average EEG reference" for p in info["projs"]):
        return info
    info = info.copy()
    info["projs"].append(
        make_eeg_average_ref_proj(info, activate=activate, verbose=False)
    )
    return info


def forward_eeg_info(forward, sfreq=1000.0):
    """Measurement info of a forward's EEG channels, average-referenced.

    Parameters
    ----------
    forward : instance of Forward
        The forward solution (its channels and their positions are used).
    sfreq : float
        Sampling frequency in Hz.

    Returns
    -------
    info : instance of Info
        EEG channels positioned as in the forward, with an active average
        reference projector: data made by the forward and average-referenced
        (as the simulator makes them) fit it as they are.
    """
    chs = forward["info"]["chs"]
    info = mne.create_info([ch["ch_name"] for ch in chs], sfreq, "eeg")
    positions = {ch["ch_name"]: ch["loc"][:3] for ch in chs}
    montage = mne.channels.make_dig_montage(ch_pos=positions, coord_frame="head")
    info.set_montage(montage, on_missing="ignore")
    return add_average_reference_projector(info, activate=True)


def electrode_directions(info):
    """Return unit vectors from the head-frame origin to each EEG electrode.

    Directions, not positions, so that montages on heads of different sizes
    compare (the head frame is fixed by the nasion and the ears).
    """
    picks = mne.pick_types(info, meg=False, eeg=True, exclude=())
    pos = np.array([info["chs"][k]["loc"][:3] for k in picks]).reshape(-1, 3)
    norms = np.linalg.norm(pos, axis=1, keepdims=True)
    return pos / np.where(norms > 0, norms, 1.0)


def montage_coverage(directions, reference, *, max_angle=20.0):
    """Share of ``reference`` electrodes with one of ``directions`` nearby.

    Parameters
    ----------
    directions : ndarray, shape (n, 3)
        Unit vectors of the data's electrodes.
    reference : ndarray, shape (m, 3)
        Unit vectors of the electrodes a model was trained with.
    max_angle : float
        Largest angle (degrees) between electrodes that count as the same.

    Returns
    -------
    coverage : float
        Between 0 (nothing near) and 1 (every reference electrode matched).
    """
    cosines = np.asarray(reference) @ np.asarray(directions).T
    return float(np.mean(cosines.max(axis=1) >= np.cos(np.deg2rad(max_angle))))
