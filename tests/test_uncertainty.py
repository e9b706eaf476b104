import json

import mne
import numpy as np
import pytest
import torch
from conftest import tiny_model
from numpy.testing import assert_allclose

from mne_piunet import (
    MapUncertainty,
    apply_piunet,
    apply_piunet_epochs,
    apply_piunet_raw,
    make_piunet_operator,
    read_model,
)
from mne_piunet._inverse import INDEPENDENT_SAMPLES
from mne_piunet._uncertainty import (
    FEATURES,
    Calibration,
    credible_mask,
    credible_probability,
    reliability_features,
)
from mne_piunet.training import CalibrationConfig, calibrate_uncertainty


def calibrated(model, *, gamma=(1.0, -1.0), power_weight=0.0):
    """The model with a hand-made calibration: expected nEMD 0.5 everywhere.

    ``power_weight``: the log expected nEMD's weight of the data power (the
    first feature), so that time points differ.
    """
    coef = (float(np.log(0.5)), power_weight) + (0.0,) * (len(FEATURES) - 1)
    cal = Calibration(coef, gamma, 1.0, {"by": "hand"})
    model.info["uncertainty"] = cal.to_dict()
    return model


def _setup(evoked, forward, cov, model):
    evoked = evoked.copy().crop(0.08, 0.1)
    return evoked, make_piunet_operator(evoked.info, forward, cov, model=model)


def test_return_uncertainty(sample_evoked, sample_vol_forward, sample_cov):
    """The map is unchanged; a probability per time point; its credible region."""
    model = calibrated(tiny_model(sample_vol_forward))
    evoked, op = _setup(sample_evoked, sample_vol_forward, sample_cov, model)
    plain = apply_piunet(evoked, op)
    stc, unc = apply_piunet(evoked, op, return_uncertainty=True)
    assert_allclose(stc.data, plain.data)
    hedged, _ = apply_piunet(evoked, op, blend=0.5, return_uncertainty=True)
    assert_allclose(hedged.data, apply_piunet(evoked, op, blend=0.5).data)
    assert isinstance(unc, MapUncertainty)
    assert isinstance(unc.probability, mne.VolSourceEstimate)
    assert unc.probability.data.shape == stc.data.shape
    assert_allclose(unc.probability.times, stc.times)
    assert_allclose(unc.probability.data.sum(axis=0), 1, rtol=1e-5)
    assert_allclose(unc.expected_nemd, 0.5)  # the hand-made calibration
    # power exp(1) * 0.5**-1: the magnitudes squared (and more), normalised
    magnitude = np.abs(stc.data)
    power = np.e * 2
    expected = (magnitude / magnitude.max(axis=0)) ** power
    assert_allclose(
        unc.probability.data, expected / expected.sum(axis=0), rtol=1e-4, atol=1e-9
    )
    region = unc.credible_region(0.9)
    assert isinstance(region, mne.VolSourceEstimate)
    inside = region.data.astype(bool)
    prob = unc.probability.data
    held = (prob * inside).sum(axis=0)
    assert (held >= 0.9 - 1e-6).all()
    # smallest: without its least probable point the region holds too little
    least = np.where(inside, prob, np.inf).min(axis=0)
    assert (held - least < 0.9).all()
    with pytest.raises(ValueError, match="level must be above 0 and at most 1"):
        unc.credible_region(1.5)


def test_uncertainty_needs_a_calibration(sample_evoked, sample_vol_forward, sample_cov):
    model = tiny_model(sample_vol_forward)
    evoked, op = _setup(sample_evoked, sample_vol_forward, sample_cov, model)
    with pytest.raises(ValueError, match="no calibrated uncertainty.*calibrate"):
        apply_piunet(evoked, op, return_uncertainty=True)
    # epochs and raw refuse at the call, before any data (even as generators)
    epochs = mne.EpochsArray(evoked.data[None], evoked.info)
    raw = mne.io.RawArray(evoked.data, evoked.info)
    for apply, inst in ((apply_piunet_epochs, epochs), (apply_piunet_raw, raw)):
        with pytest.raises(ValueError, match="no calibrated uncertainty"):
            apply(inst, op, return_generator=True, return_uncertainty=True)


def _assert_same_uncertainty(unc, reference, stc):
    assert_allclose(unc.expected_nemd, reference.expected_nemd, rtol=1e-6)
    assert_allclose(unc.probability.data, reference.probability.data, atol=1e-7)
    assert_allclose(unc.probability.times, stc.times)  # the estimate's


def test_epochs_and_raw_uncertainty(sample_evoked, sample_vol_forward, sample_cov):
    """Each epoch's and every raw sample's assessment is the evoked one's.

    Without smoothing across time and with batches as long as the raw
    chunks, so that the network sees the same batches (bf16 results depend
    on the batch).
    """
    model = calibrated(tiny_model(sample_vol_forward), power_weight=0.2)
    evoked = sample_evoked.copy().crop(0.05, 0.12)
    op = make_piunet_operator(evoked.info, sample_vol_forward, sample_cov, model=model)
    kwargs = dict(return_uncertainty=True, batch_size=7, **INDEPENDENT_SAMPLES)
    stc, unc = apply_piunet(evoked, op, **kwargs)
    assert np.ptp(unc.expected_nemd) > 0  # time points differ
    # an evoked of one trial is that trial's epoch
    single = mne.EvokedArray(evoked.data, evoked.info, tmin=evoked.tmin, nave=1)
    stc1, unc1 = apply_piunet(single, op, **kwargs)
    epochs = mne.EpochsArray(
        np.stack([evoked.data, single.data]), evoked.info, tmin=evoked.tmin
    )
    pairs = apply_piunet_epochs(epochs, op, **kwargs)
    assert len(pairs) == 2
    for epoch_stc, epoch_unc in pairs:
        assert_allclose(epoch_stc.data, stc1.data)
        _assert_same_uncertainty(epoch_unc, unc1, epoch_stc)
    # raw: chunks, whole and the evoked of the same samples agree
    raw = mne.io.RawArray(single.data, single.info)
    kwargs["buffer_size"] = 7
    raw_stc, raw_unc = apply_piunet_raw(raw, op, **kwargs)
    assert_allclose(raw_stc.data, stc1.data, rtol=1e-5, atol=1e-6 * stc1.data.max())
    _assert_same_uncertainty(raw_unc, unc1, raw_stc)
    chunks = list(apply_piunet_raw(raw, op, return_generator=True, **kwargs))
    n_times = len(raw.times)
    sizes = [min(7, n_times - first) for first in range(0, n_times, 7)]
    assert [len(unc.expected_nemd) for _, unc in chunks] == sizes
    assert_allclose(
        np.concatenate([u.expected_nemd for _, u in chunks]), raw_unc.expected_nemd
    )
    assert chunks[1][1].probability.tmin == pytest.approx(raw.times[7])
    region = chunks[-1][1].credible_region(0.9)
    assert region.data.shape == (sample_vol_forward["nsource"], sizes[-1])


def test_reliability_features_of_a_single_point():
    """One point holds the map: its statistics are known by hand."""
    positions = torch.tensor([[0.0, 0, 0], [0.03, 0, 0], [0, 0.04, 0]])
    pattern = torch.zeros(1, 3, 3, dtype=torch.float64)
    pattern[0, 1, 2] = 2.0
    init = torch.zeros_like(pattern)
    init[0, 0, 0], init[0, 2, 0] = 1.0, 1.0
    gain = torch.eye(9, dtype=torch.float64)[[0, 1, 5, 3]]  # point 1's z: channel 2
    data = gain @ pattern.reshape(1, -1).T
    data = data.T + torch.tensor([[0.0, 0, 0, 3]])  # channel 3: unexplained
    features = reliability_features(pattern, init, data, gain, positions, rank=4)
    # the source space's spread: root mean square distance from its centre
    points = positions.numpy()
    space = np.sqrt(((points - points.mean(0)) ** 2).sum(1).mean())
    expected = [
        np.log((4 + 9) / 4),  # power per whitened channel
        np.log(1 / 3),  # one of the three points holds the map
        np.log(2 / 3),  # two equal points hold the init
        np.log(1e-30),  # no spread (clamped)
        np.log(0.02 / space),  # the init's points 40 mm apart: 20 mm from their centre
        np.log(0.03 + 0.005),  # maxima: point 1 and point 0
        1.0,
        np.log(9 / 13),
    ]
    assert_allclose(features[0].numpy(), expected, rtol=1e-6)


def test_credible_mask_is_the_smallest_set():
    prob = np.array([[0.5, 0.1], [0.3, 0.2], [0.15, 0.3], [0.05, 0.4]])
    mask = credible_mask(prob, 0.75)
    assert_allclose(mask, [[1, 0], [1, 1], [0, 1], [0, 1]])
    assert credible_mask(prob, 0.5)[:, 0].tolist() == [True, False, False, False]
    flat = credible_probability(
        torch.ones(1, 4), torch.ones(1, 4), torch.tensor([3.0]), 1
    )
    assert_allclose(flat, 0.25)
    # a share of the init's map: (0.8 * [1, 0] + 0.2 * [0.5, 0.5])
    mixed = credible_probability(
        torch.tensor([[2.0, 0]]), torch.tensor([[1.0, 1]]), torch.tensor([2.0]), 0.8
    )
    assert_allclose(mixed, [[0.9, 0.1]])


def test_calibrate_uncertainty(sample_evoked, sample_vol_forward, sample_cov, tmp_path):
    """A small calibration: rules in the card, saved and read back, applied."""
    model = tiny_model(sample_vol_forward)
    config = CalibrationConfig(n_sources=(1, 3), snr_db=(0.0, 20.0), n_samples=4)
    out = calibrate_uncertainty(model, sample_vol_forward, config, verbose=False)
    assert "uncertainty" not in model.info  # a copy
    entry = out.info["uncertainty"]
    json.dumps(entry)
    assert len(entry["coef"]) == len(FEATURES) + 1
    assert entry["fitted_on"]["config"]["n_samples"] == 4
    assert 0 < entry["weight"] <= 1
    coverage = entry["fitted_on"]["coverage"]
    assert all(0 <= value <= 1 for value in coverage.values())
    out.save(tmp_path / "cal.safetensors")
    back = read_model(tmp_path / "cal.safetensors")
    assert back.info["uncertainty"] == json.loads(json.dumps(entry))
    evoked, op = _setup(sample_evoked, sample_vol_forward, sample_cov, back)
    _, unc = apply_piunet(evoked, op, return_uncertainty=True)
    assert np.isfinite(unc.expected_nemd).all() and (unc.expected_nemd > 0).all()
    with pytest.raises(TypeError, match="config must be an instance of"):
        calibrate_uncertainty(model, sample_vol_forward, config={"n_samples": 4})


def test_shipped_default_is_calibrated():
    """The default's card holds the calibration its recipe makes."""
    entry = read_model("default").info["uncertainty"]
    config = json.loads(json.dumps(CalibrationConfig().__dict__))
    assert entry["fitted_on"]["config"] == config
    Calibration.from_model(read_model("default"))
