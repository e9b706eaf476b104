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
    EEG forward solution with free source orientation, computed for the
    channels of the data (bad channels may be absent), or an operator from
    :func:`mne_piunet.make_piunet_operator` (then ``model``, ``noise_cov``,
    ``lambda2`` and ``init`` come from the operator and must be left at their
    defaults).
"""

docdict["forward"] = """
forward : instance of Forward
    EEG forward solution with free source orientation.
"""

docdict["model"] = """
model : PIUNet | path-like | str | None
    The trained model, its file, or the name of a registered pretrained
    model (:func:`mne_piunet.datasets.model_names`); ``None`` uses the
    ``"default"`` model that ships with the package (trained on the
    fsaverage template, 7 mm volume grid, 61-channel easycap-M10 montage,
    eLORETA init).
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

docdict["init"] = """
init : "eLORETA" | "sLORETA" | "MNE" | "dSPM"
    The linear inverse used as physics init (the paper uses eLORETA).
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

docdict["precision"] = """
precision : "auto" | "float32" | "bfloat16"
    Arithmetic of the network. ``"bfloat16"`` runs it under bfloat16
    autocast: on a CPU with AVX512-BF16 the sample evoked response took
    3.6 s instead of 5.9 s, its maps differing from float32 ones by 0.8 %%
    of their maximum (median over time points; at most 3.5 %%), and the
    benchmark's scores did not change beyond their noise (see the
    performance page). ``"auto"`` uses bfloat16 where the hardware
    computes it natively (AVX512-BF16 or AMX CPUs, CUDA GPUs of compute
    capability 8 and newer) and float32 elsewhere.
"""

docdict["amplitude"] = """
amplitude : "fit" | "prior" | "init"
    How each time point's refined map gets its amplitude. ``"fit"``: the
    factor whose forward projection best fits the whitened data (least
    squares), so moments are in A·m and explain the data, and time points
    without signal come out small. ``"prior"``: the refined map is the
    source prior of a weighted minimum-norm estimate (regularised by
    ``lambda2``): amplitudes and orientations within the map come from the
    data. ``"init"``: the init's largest moment (the paper's rule; with an
    identity network this returns the init).
"""

docdict["orientation"] = """
orientation : "init" | "network"
    Where each source point's direction comes from. ``"init"`` (the
    default): the init's moment at that point (eLORETA's, computed from the
    user's forward and noise covariance); the network's map gives only the
    magnitudes. ``"network"``: the network's own output vectors. On the
    sample subject's visual responses with the recording's noise covariance
    the network's vectors explained 4 to 5 %% of the whitened data over
    80-200 ms, the init's directions 53 to 56 %% (eLORETA itself 76 %%); on
    simulated blobs, whose orientation is one vector per blob, the
    network's vectors are closer to the truth (see the real-data page).
"""

docdict["residual"] = """
residual : float
    Share, from 0 to 1, of a data-consistency step after the refinement: an
    estimate of the sources of the data the refined map leaves unexplained
    (by the init method, eLORETA by default, or by the model again: see
    ``residual_method``) is added, times ``residual``. ``0`` (the default)
    returns the network's map; ``1`` adds the whole estimate. With
    ``residual_method="init"`` it needs an init in A·m (``"eLORETA"`` or
    ``"MNE"``). A trade-off measured in
    ``benchmarks/real_data.py`` and the benchmark: more sources recovered
    when there are many (5 to 10) and time courses that follow the
    response's GFP where the network fades at low signal, at the cost of
    blurring single sources at low SNR.
"""

docdict["blend"] = """
blend : float
    Share, from 0 to 1, of the init's map (eLORETA's by default) in the
    network's: before the amplitude rule, each time point's pattern becomes
    ``(1 - blend)`` times the network's magnitudes plus ``blend`` times the
    init's, each map summing to one, in the network's directions. ``0`` (the
    default) is the network's map; ``1`` the init's map with the amplitude
    rule's scale. A hedge for many simultaneous sources, measured in the
    benchmarks page: with ``0.5`` the maps were not worse than eLORETA's in
    any cell of either head's full benchmark grid, ten sources included
    (the network alone: 5 of 25 on each), at the cost of blurring single and
    few sources.
"""

docdict["residual_method"] = """
residual_method : "init" | "network"
    What estimates the sources of the data the refined map leaves
    unexplained in the data-consistency step (``residual``). ``"init"`` (the
    default): the init method. ``"network"``: the model, once more (init,
    network and amplitude rule, as in the first pass), on those data; each
    time point's map is weighted by the share of the unexplained whitened
    power that exceeds the noise's, so time points the refined map explains
    to within the noise get nothing (and cost no second network call). The
    weight is only as good as the noise covariance: pass one that describes
    the data's noise (the ad-hoc covariance does not). Measured in the
    benchmarks page: more accurate maps with several sources at 20 to 30 dB,
    single sources slightly less focal at 30 dB.
"""

docdict["smoothing"] = """
smoothing : float | None
    Width (full width at half maximum, in seconds) of a Gaussian time window
    over which the data are averaged before the physics init, so that the
    network sees steadier patterns; each time point's amplitude is still
    fitted to its own data. ``None`` (or 0): every time point on its own
    (use it when the "time points" are independent samples). The default,
    20 ms, was chosen on the sample subject's visual responses
    (``benchmarks/real_data.py``): the map maximum jumps by more than 20 mm
    at 2 to 9 %% of the samples instead of 25 to 45 %%.
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
    down: with 40 ms every second sample at 150 Hz, every fourth at 250 Hz,
    every tenth at 600 Hz) and the maps in between are interpolated
    linearly. ``None`` (or
    0): each time point keeps its own map (use it when the "time points" are
    independent samples). The default, 40 ms, was chosen on the sample
    subject's visual responses (``benchmarks/real_data.py``): without it
    the map maximum follows the right-visual response's GFP less closely
    than eLORETA's does (correlation 0.63 against 0.75, ad-hoc covariance),
    with it about as closely (0.75); see the real-data page.
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
