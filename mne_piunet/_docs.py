"""Shared docstring entries, filled in with :func:`fill_doc` (as MNE's own).

Entries that MNE documents for :func:`mne.minimum_norm.apply_inverse` are
taken from MNE's dictionary, so both read the same.
"""

from mne.utils.docs import docdict as _mne_docdict

docdict = {name: _mne_docdict[name] for name in ("verbose",)}

docdict["pick_ori"] = """
pick_ori : None | "normal" | "vector"
    Options:

    - ``None``
        The norm of the refined dipole moment per source.
    - ``"normal"``
        Its component along the cortical normal (surface source spaces
        only).
    - ``"vector"``
        All three components, as a :class:`mne.VectorSourceEstimate` or
        :class:`mne.VolVectorSourceEstimate`.
"""

docdict["forward_or_operator"] = """
forward : instance of Forward | PIUNetOperator
    MEG and/or EEG forward solution with free source orientation,
    computed for the channels of the data or a superset of them (bad
    channels may be absent), or an operator from :func:`mne_piunet.make_piunet_operator`
    (then ``model``, ``noise_cov`` and ``lambda2`` come from the operator
    and must be left at their defaults).
"""

docdict["forward"] = """
forward : instance of Forward
    MEG and/or EEG forward solution with free source orientation.
"""

docdict["model"] = """
model : PIUNet | path-like | str | None
    The trained model, its file, or the name of a registered pretrained
    model (:func:`mne_piunet.datasets.model_names`); ``None`` uses a model
    that ships with the package: ``"meg"`` for MEG-only data and
    ``"eeg-meg"`` for EEG+MEG data (fine-tuned for the Neuromag Vectorview
    and, ``"eeg-meg"``, its 60 electrodes), ``"default"`` for EEG (trained on EEG:
    the fsaverage template, 7 mm volume grid, 61-channel easycap-M10
    montage, eLORETA init). The model's card names its init method, which
    the operator uses.
"""

docdict["noise_cov"] = """
noise_cov : instance of Covariance | None
    Noise covariance of the physics init, as for
    :func:`mne.minimum_norm.make_inverse_operator`; ``None`` uses an ad-hoc
    diagonal covariance (:func:`mne.make_ad_hoc_cov`).
"""

docdict["lambda2"] = """
lambda2 : float
    Regularisation of the physics init, as in
    :func:`mne.minimum_norm.apply_inverse` (a positive number; the models
    are trained with 1/9).
"""

docdict["init_method"] = """
method : "eLORETA" | "sLORETA" | "MNE" | "dSPM"
    The inverse method of the init.
"""

docdict["nave"] = """
nave : int
    Number of averages (scales the noise covariance, as in MNE).
"""

docdict["batch_size"] = """
batch_size : int | None
    Time points per network call; ``None`` chooses 8 on CPU and 128 on
    CUDA.
"""

docdict["device"] = """
device : str | torch.device | None
    Where the network runs; ``None`` uses CUDA when available.
"""

docdict["blend"] = """
blend : float
    Share, from 0 to 1, of the init's map (eLORETA's by default) in the
    network's: before the amplitude rule, each time point's pattern becomes
    ``(1 - blend)`` times the network's magnitudes plus ``blend`` times the
    init's, each map summing to one, in the network's directions. ``0`` (the
    default) is the network's map; ``1`` the init's map with the amplitude
    rule's scale. A hedge for recordings with many simultaneous sources, at
    the cost of blurring single and few sources; the benchmarks page
    measures the trade-off.
"""

docdict["smoothing"] = """
smoothing : float | None
    Width (full width at half maximum, in seconds) of a Gaussian time window
    over which the data are averaged before the physics init, so that the
    network sees steadier patterns; each time point's amplitude is still
    fitted to its own data. ``None`` (or 0): every time point on its own
    (use it when the "time points" are independent samples). The default
    was chosen on real visual responses (see the real-data page).
"""

docdict["init_moments"] = """
init : torch.Tensor, shape (n, n_points, 3)
    Initial dipole moments (e.g. eLORETA) of ``n`` samples.
"""

docdict["model_grid"] = """
grid : VoxelGrid
    The model's grid placed around the source points.
"""

docdict["pattern_smoothing"] = """
pattern_smoothing : float | None
    Width (full width at half maximum, in seconds) of a Gaussian time window
    over which the network's maps are averaged: each time point's map,
    divided by its largest magnitude, is averaged with its neighbours' before
    its amplitude is fitted to its own data, so that the shape of the
    estimate changes smoothly while its size follows the data. As the
    window averages neighbouring maps anyway, the network runs on one sample
    per standard deviation of the window (FWHM / 2.355 in samples, rounded
    down) and the maps in between are interpolated linearly. ``None`` (or
    0): each time point keeps its own map (use it when the "time points"
    are independent samples). The default was chosen on real visual
    responses (see the real-data page).
"""

docdict["ref_morik"] = """
.. [1] Morik, Hashemi, Müller, Haufe and Nakajima (2025). Enhancing
   Brain Source Reconstruction by Initializing 3D Neural Networks with
   Physical Inverse Solutions. IEEE Transactions on Medical Imaging.
"""


def _indent_after_first_line(text, n_spaces):
    lines = text.strip("\n").splitlines()
    return "\n".join(lines[:1] + [" " * n_spaces + line for line in lines[1:]])


def fill_doc(func):
    """Fill ``%(name)s`` placeholders in a docstring from :data:`docdict`."""
    doc = func.__doc__
    if not doc:
        return func
    body = [line for line in doc.splitlines()[1:] if line.strip()]
    indent = min((len(line) - len(line.lstrip()) for line in body), default=0)
    entries = {k: _indent_after_first_line(v, indent) for k, v in docdict.items()}
    func.__doc__ = doc % entries
    return func
