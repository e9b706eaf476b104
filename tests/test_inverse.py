import warnings

import mne
import numpy as np
import pytest
import torch
from conftest import identity_model, tiny_model
from mne.minimum_norm import apply_inverse, make_inverse_operator
from numpy.testing import assert_allclose

from mne_piunet import (
    GridSpec,
    PIUNet,
    PIUNetOperator,
    VoxelGrid,
    apply_piunet,
    apply_piunet_epochs,
    apply_piunet_raw,
    make_piunet_operator,
    read_model,
)
from mne_piunet._inverse import INDEPENDENT_SAMPLES
from mne_piunet._model import least_squares_amplitude, with_orientations


def _mne_stc(evoked, forward, cov, method, pick_ori, lambda2=1.0 / 9.0):
    inv = make_inverse_operator(evoked.info, forward, cov, loose=1.0)
    return apply_inverse(evoked, inv, lambda2, method, pick_ori=pick_ori)


@pytest.fixture
def float32(monkeypatch):
    """Run networks in float32 (bfloat16 kernels differ between batch splits)."""
    monkeypatch.setattr("mne_piunet._inverse.bf16_fast", lambda device: False)


def assert_proportional(est, ref, rtol=1e-5):
    """Each time point of ``est`` is ``ref``'s times one positive factor."""
    axes = tuple(range(est.ndim - 1))
    factor = (est * ref).sum(axis=axes) / (ref * ref).sum(axis=axes)
    assert np.all(factor > 0)
    assert_allclose(est, ref * factor, rtol=rtol, atol=rtol * np.abs(est).max())


@pytest.mark.parametrize("init", ["eLORETA", "sLORETA", "dSPM", "MNE"])
def test_init_equals_mne(init, sample_evoked, sample_vol_forward, sample_cov):
    """The init is MNE's own inverse, of the method the model's card names."""
    model = identity_model(sample_vol_forward, init=init)
    op = make_piunet_operator(
        sample_evoked.info, sample_vol_forward, sample_cov, model=model, lambda2=1 / 16
    )
    assert op.init == init
    ref = _mne_stc(
        sample_evoked, sample_vol_forward, sample_cov, init, "vector", lambda2=1 / 16
    )
    data = sample_evoked.copy().pick(op.ch_names).data
    init_moments = op.kernel(sample_evoked.nave).apply(data).numpy()
    assert_allclose(
        init_moments.transpose(1, 2, 0),
        ref.data,
        rtol=1e-5,
        atol=1e-6 * np.abs(ref.data).max(),
    )


@pytest.mark.parametrize("pick_ori", [None, "vector"])
def test_identity_network_is_scaled_eloreta(
    pick_ori, sample_evoked, sample_vol_forward, sample_cov
):
    """An identity network returns MNE's eLORETA map, its amplitude fitted."""
    stc = apply_piunet(
        sample_evoked,
        sample_vol_forward,
        identity_model(sample_vol_forward),
        sample_cov,
        pick_ori=pick_ori,
        **INDEPENDENT_SAMPLES,
    )
    ref = _mne_stc(sample_evoked, sample_vol_forward, sample_cov, "eLORETA", pick_ori)
    assert type(stc) is type(ref)
    assert_proportional(stc.data, ref.data)
    assert stc.tmin == ref.tmin and stc.tstep == ref.tstep
    assert stc.subject == ref.subject == "sample"
    np.testing.assert_array_equal(stc.vertices[0], ref.vertices[0])


def test_network_output_is_rescaled(sample_evoked, sample_vol_forward, sample_cov):
    """Fitted amplitudes: the scale of the network's output does not matter.

    Zero data stay zero.
    """
    import torch

    class Double(torch.nn.Module):
        def forward(self, x):
            assert float(x.abs().amax()) == pytest.approx(1.0)  # normalised input
            return 2 * x

    evoked = sample_evoked.copy()
    evoked.data[:, :5] = 0.0
    grid = identity_model(sample_vol_forward).grid
    kwargs = dict(noise_cov=sample_cov, **INDEPENDENT_SAMPLES)
    double, ident = PIUNet(Double(), grid), PIUNet(torch.nn.Identity(), grid)
    stc = apply_piunet(evoked, sample_vol_forward, double, **kwargs)
    ref = apply_piunet(evoked, sample_vol_forward, ident, **kwargs)
    assert_allclose(stc.data, ref.data, rtol=1e-5)
    assert np.all(stc.data[:, :5] == 0)
    assert np.all(np.isfinite(stc.data))


def test_entry_points_classes_and_shapes(sample_evoked, sample_vol_forward, float32):
    model = tiny_model(sample_vol_forward)
    evoked = sample_evoked.copy().crop(0.05, 0.1)
    n_src = sample_vol_forward["nsource"]
    stc = apply_piunet(
        evoked,
        sample_vol_forward,
        model,
        **INDEPENDENT_SAMPLES,
    )
    assert isinstance(stc, mne.VolSourceEstimate)
    assert stc.data.shape == (n_src, len(evoked.times))
    assert_allclose(stc.times, evoked.times)

    epochs = mne.EpochsArray(
        np.stack([evoked.data, -evoked.data, evoked.data * 2]),
        evoked.info,
        tmin=evoked.times[0],
    )
    stcs = apply_piunet_epochs(
        epochs,
        sample_vol_forward,
        model,
        pick_ori="vector",
        **INDEPENDENT_SAMPLES,
    )
    assert len(stcs) == 3
    assert all(isinstance(s, mne.VolVectorSourceEstimate) for s in stcs)
    assert stcs[0].data.shape == (n_src, 3, len(evoked.times))
    # each time point on its own (no smoothing: the tiled raw below has jumps):
    # scaling the data scales the estimate, the first epoch equals the evoked
    assert_allclose(stcs[2].data, 2 * stcs[0].data, rtol=1e-4, atol=1e-12)
    assert_allclose(np.linalg.norm(stcs[0].data, axis=1), stc.data, rtol=1e-5)
    gen = apply_piunet_epochs(
        epochs,
        sample_vol_forward,
        model,
        return_generator=True,
        **INDEPENDENT_SAMPLES,
    )
    assert not isinstance(gen, list)
    assert_allclose(next(gen).data, stc.data, rtol=1e-5)

    raw = mne.io.RawArray(np.tile(evoked.data, 3), evoked.info)
    n = len(evoked.times)
    stc_raw = apply_piunet_raw(
        raw,
        sample_vol_forward,
        model,
        start=n,
        stop=3 * n,
        buffer_size=7,
        **INDEPENDENT_SAMPLES,
    )
    assert isinstance(stc_raw, mne.VolSourceEstimate)
    assert stc_raw.data.shape == (n_src, 2 * n)
    assert stc_raw.tmin == pytest.approx(n / raw.info["sfreq"])
    # float32 network run in other batch splits: compare with each time's peak
    peak = np.abs(stc.data).max(axis=0)
    assert (np.abs(stc_raw.data[:, :n] - stc.data).max(axis=0) < 1e-3 * peak).all()
    vec_raw = apply_piunet_raw(
        raw,
        sample_vol_forward,
        model,
        pick_ori="vector",
        stop=n,
        buffer_size=50,
        **INDEPENDENT_SAMPLES,
    )
    assert isinstance(vec_raw, mne.VolVectorSourceEstimate)
    assert vec_raw.data.dtype == np.float32
    assert_allclose(vec_raw.data, stcs[0].data, rtol=1e-3, atol=1e-3 * peak.max())


def test_surface_source_space(sample_evoked, sample_surf_forward, sample_cov):
    fwd = sample_surf_forward
    evoked = sample_evoked.copy().crop(0.08, 0.1)
    model = tiny_model(fwd)
    vec = apply_piunet(evoked, fwd, model, sample_cov, pick_ori="vector")
    norm = apply_piunet(evoked, fwd, model, sample_cov)
    normal = apply_piunet(evoked, fwd, model, sample_cov, pick_ori="normal")
    assert isinstance(vec, mne.VectorSourceEstimate)
    assert type(norm) is mne.SourceEstimate and type(normal) is mne.SourceEstimate
    assert len(vec.vertices) == 2 and vec.subject == "sphere"
    assert_allclose(norm.data, vec.magnitude().data, rtol=1e-6)
    assert_allclose(
        normal.data, vec.project("normal", fwd["src"])[0].data, rtol=1e-6, atol=1e-12
    )
    # a surface maps onto the grid by trilinear weights, not one voxel each:
    # the grid's map of the init is the init blurred
    op = make_piunet_operator(evoked.info, fwd, sample_cov, model=identity_model(fwd))
    data = evoked.copy().apply_proj().get_data(picks=op.ch_names)
    init = op.kernel(evoked.nave).apply(data)
    pattern = op.model.pattern(init, op.grid).double()
    corr = np.corrcoef(pattern.norm(dim=2).ravel(), init.norm(dim=2).ravel())[0, 1]
    assert not op.grid.exact and 0.7 < corr < 1.0 - 1e-6


def test_surface_finish_fits_the_data(sample_evoked, sample_surf_forward, sample_cov):
    """On a cortex (points finer than the grid) the finish chooses, within the
    network's map, the vertices that explain the data: single noise-free
    dipoles are explained far better, and peak closer, than by the grid's map."""
    fwd = sample_surf_forward
    src_nn = np.concatenate([s["nn"][s["vertno"]] for s in fwd["src"]])
    vertices = np.random.default_rng(0).choice(fwd["nsource"], 6, replace=False)
    gain = fwd["sol"]["data"]
    data = np.stack(
        [gain.reshape(fwd["nchan"], -1, 3)[:, j] @ src_nn[j] for j in vertices], axis=1
    )
    info = sample_evoked.copy().pick(fwd["info"]["ch_names"]).info  # avg ref proj
    evoked = mne.EvokedArray(1e-8 * data, info)
    op = make_piunet_operator(info, fwd, sample_cov, model=identity_model(fwd))
    stc = apply_piunet(evoked, op, pick_ori="vector", **INDEPENDENT_SAMPLES)
    # the grid's map alone: its magnitudes along the init's directions
    sensors = evoked.copy().apply_proj().get_data(picks=op.ch_names)
    init = op.kernel().apply(sensors)
    whitener = torch.as_tensor(op.kernel().whitener)
    fit = ((whitener @ torch.as_tensor(sensors)).T, whitener @ torch.as_tensor(gain))
    grid_map = with_orientations(op.model.pattern(init, op.grid).double(), init)
    grid_map = (grid_map * least_squares_amplitude(grid_map, *fit)).numpy()

    def residual(moments):  # share of the whitened data left unexplained
        predicted = fit[1].numpy() @ moments.reshape(len(moments), -1).T
        left = ((fit[0].numpy().T - predicted) ** 2).sum(axis=0)
        return left / (fit[0].numpy() ** 2).sum(axis=1)

    finished = np.moveaxis(stc.data, -1, 0)
    finished_left, grid_left = residual(finished), residual(grid_map)
    assert np.all(finished_left < 0.01)  # 99 % of each dipole's data explained
    assert np.median(finished_left) < 0.2 * np.median(grid_left)
    positions = np.concatenate([s["rr"][s["vertno"]] for s in fwd["src"]])

    def peak_error(moments):
        peaks = np.linalg.norm(moments, axis=2).argmax(axis=1)
        return np.linalg.norm(positions[peaks] - positions[vertices], axis=1)

    assert peak_error(finished).mean() < peak_error(grid_map).mean()


def test_surface_forward_with_surf_ori(sample_evoked, sample_surf_forward, sample_cov):
    """A free forward in surface orientation gives the same x/y/z result."""
    fwd = sample_surf_forward
    evoked = sample_evoked.copy().crop(0.08, 0.09)
    fwd_ori = mne.convert_forward_solution(fwd, surf_ori=True)
    model = identity_model(fwd)
    a = apply_piunet(evoked, fwd, model, sample_cov, pick_ori="vector")
    b = apply_piunet(evoked, fwd_ori, model, sample_cov, pick_ori="vector")
    assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-4 * np.abs(a.data).max())


# --- bad input -----------------------------------------------------------------


def test_bad_types(sample_evoked, sample_vol_forward):
    model = identity_model(sample_vol_forward)
    with pytest.raises(TypeError, match="evoked must be an instance of Evoked"):
        apply_piunet(sample_evoked.data, sample_vol_forward, model)
    with pytest.raises(TypeError, match="epochs must be an instance of"):
        apply_piunet_epochs(sample_evoked, sample_vol_forward, model)
    with pytest.raises(TypeError, match="raw must be an instance of"):
        apply_piunet_raw(sample_evoked, sample_vol_forward, model)
    with pytest.raises(TypeError, match="forward must be an instance of Forward"):
        apply_piunet(sample_evoked, "fwd.fif", model)
    with pytest.raises(TypeError, match="model must be an instance of"):
        apply_piunet(sample_evoked, sample_vol_forward, 42)
    with pytest.raises(ValueError, match="Invalid value for the 'pick_ori'"):
        apply_piunet(sample_evoked, sample_vol_forward, model, pick_ori="max")
    with pytest.raises(TypeError, match="unexpected keyword argument 'init'"):
        apply_piunet(sample_evoked, sample_vol_forward, model, init="LORETA")
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        apply_piunet(sample_evoked, sample_vol_forward, model, batch_size=0)


@pytest.mark.filterwarnings("ignore:The model was trained on EEG data")
@pytest.mark.parametrize("types", [["meg"], ["meg", "eeg"], ["grad"]])
def test_meg_init_equals_mne(types, sample_evoked, sample_meg_forward, sample_cov):
    """MEG, EEG+MEG, gradiometers: whitened, projected and inverted as MNE does.

    The sample data carry three SSP projectors; a channel of each kind is bad.
    """
    evoked = sample_evoked.copy()
    evoked.info["bads"] = ["MEG 2443", "MEG 1321", "EEG 053"]
    evoked = evoked.pick(types).crop(0.05, 0.12)
    assert evoked.info["bads"]
    ssp = [p for p in evoked.info["projs"] if p["desc"].startswith("PCA")]
    assert len(ssp) == (3 if "meg" in types else 0)  # SSP on the magnetometers
    model = identity_model(sample_meg_forward)
    op = make_piunet_operator(evoked.info, sample_meg_forward, sample_cov, model=model)
    assert set(op.ch_names) == set(evoked.ch_names) - set(evoked.info["bads"])
    ref = _mne_stc(evoked, sample_meg_forward, sample_cov, "eLORETA", "vector")
    init = op.kernel(evoked.nave).apply(evoked.copy().pick(op.ch_names).data)
    scale = np.abs(ref.data).max()
    assert_allclose(init.numpy().transpose(1, 2, 0), ref.data, atol=1e-6 * scale)
    # an identity network returns that map, its amplitude fitted
    stc = apply_piunet(evoked, op, **INDEPENDENT_SAMPLES)
    assert_proportional(stc.data, np.linalg.norm(ref.data, axis=1))


@pytest.mark.filterwarnings("ignore:The model was trained on EEG data")
def test_meg_bad_channel_is_left_out(sample_evoked, sample_meg_forward, sample_cov):
    """A channel marked bad is used as if it were not there, as in MNE."""
    evoked = sample_evoked.copy().pick("meg").crop(0.08, 0.1)
    model = identity_model(sample_meg_forward)
    evoked.info["bads"] += ["MEG 0113"]
    marked = apply_piunet(evoked, sample_meg_forward, model, sample_cov)
    dropped = evoked.copy().drop_channels(evoked.info["bads"])
    assert_allclose(
        apply_piunet(dropped, sample_meg_forward, model, sample_cov).data, marked.data
    )


def test_meg_data_with_eeg_forward(sample_evoked, sample_vol_forward):
    evoked = sample_evoked.copy().pick("meg")
    with pytest.raises(ValueError, match=r"\(grad, mag\) are of none of the types"):
        apply_piunet(evoked, sample_vol_forward, identity_model(sample_vol_forward))


def test_model_sensors_are_checked(sample_evoked, sample_meg_forward):
    """A model meeting sensors it was not trained for warns."""
    eeg = sample_evoked.copy().pick("eeg")
    # a MEG model's card has no electrodes to compare the data's with
    meg_model = identity_model(
        sample_meg_forward, head_model={"ch_types": ["grad"], "ch_dirs": []}
    )
    for data in (eeg, sample_evoked):
        with pytest.warns(
            RuntimeWarning, match=r"trained on MEG data; these data are EEG"
        ):
            make_piunet_operator(data.info, sample_meg_forward, model=meg_model)
    # a card without channel types is an EEG model (cards before MEG support)
    eeg_model = identity_model(sample_meg_forward)
    with pytest.warns(
        RuntimeWarning, match=r"EEG data; these data are EEG\+MEG \(eeg, grad, mag\)"
    ):
        make_piunet_operator(sample_evoked.info, sample_meg_forward, model=eeg_model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_piunet_operator(eeg.info, sample_meg_forward, model=eeg_model)


def test_default_model_follows_the_channel_types(sample_evoked, sample_meg_forward):
    """model=None: the MEG model for MEG data, the EEG+MEG one for both, the
    default for EEG."""
    meg = sample_evoked.copy().pick("meg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the MEG model meets MEG: no warning
        op = make_piunet_operator(meg.info, sample_meg_forward)
    assert op.model.info["head_model"]["ch_types"] == ["grad", "mag"]
    eeg = sample_evoked.copy().pick("eeg")
    default = read_model("default", verbose=False).info
    op = make_piunet_operator(eeg.info, sample_meg_forward)
    assert op.model.info == default
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # trained on EEG+MEG: no warning
        op = make_piunet_operator(sample_evoked.info, sample_meg_forward)
    assert op.model.info["head_model"]["ch_types"] == ["eeg", "grad", "mag"]


def test_meg_channels_are_ignored(sample_evoked, sample_vol_forward, sample_cov):
    """With an EEG forward, the data's MEG channels are left out, as in MNE."""
    model = identity_model(sample_vol_forward)
    evoked = sample_evoked.copy().crop(0.1, 0.11)
    with mne.utils.catch_logging(verbose="info") as log:
        a = apply_piunet(evoked, sample_vol_forward, model, sample_cov, verbose=True)
    assert "Ignoring 306 grad/mag channel(s)" in log.getvalue()
    b = apply_piunet(evoked.copy().pick("eeg"), sample_vol_forward, model, sample_cov)
    assert_allclose(a.data, b.data)


def test_channel_mismatch(sample_evoked, sample_vol_forward):
    model = identity_model(sample_vol_forward)
    evoked = sample_evoked.copy().pick("eeg")
    fwd_less = mne.pick_channels_forward(
        sample_vol_forward, exclude=["EEG 001", "EEG 002"]
    )
    with pytest.raises(
        ValueError,
        match=r"2 channel\(s\) of the data are not "
        r"in the forward solution: \['EEG 001', 'EEG 002'\]",
    ):
        apply_piunet(evoked, fwd_less, model)
    # a subset of the forward's channels: the forward is picked, as MNE does
    evoked_less = evoked.copy().drop_channels(["EEG 010"])
    with mne.utils.catch_logging(verbose="info") as log:
        stc = apply_piunet(evoked_less, sample_vol_forward, model, verbose=True)
    assert "Leaving out 1 forward channel(s)" in log.getvalue()
    fwd_picked = mne.pick_channels_forward(sample_vol_forward, evoked_less.ch_names)
    assert_allclose(stc.data, apply_piunet(evoked_less, fwd_picked, model).data)
    # bad channels are left out of both, with the same result
    evoked.info["bads"] = ["EEG 010"]
    bads = apply_piunet(evoked, sample_vol_forward, model)
    assert_allclose(bads.data, stc.data)


def test_missing_average_reference(sample_evoked, sample_vol_forward):
    eeg = sample_evoked.copy().pick("eeg")
    info = mne.create_info(eeg.ch_names, eeg.info["sfreq"], "eeg")
    evoked = mne.EvokedArray(eeg.data, info.set_montage(eeg.get_montage()))
    with pytest.raises(ValueError, match="EEG average reference.*mandatory"):
        apply_piunet(evoked, sample_vol_forward, identity_model(sample_vol_forward))


def test_non_finite_data(sample_evoked, sample_vol_forward):
    evoked = sample_evoked.copy().pick("eeg")
    evoked.data[3, 10] = np.nan
    evoked.data[4, 11] = np.inf
    with pytest.raises(ValueError, match=r"2 non-finite value\(s\) \(NaN or inf\)"):
        apply_piunet(evoked, sample_vol_forward, identity_model(sample_vol_forward))


def test_fixed_orientation_forward(sample_evoked, sample_surf_forward):
    fwd = mne.convert_forward_solution(
        sample_surf_forward, force_fixed=True, surf_ori=True
    )
    with pytest.raises(ValueError, match="fixed source orientations.*free"):
        apply_piunet(sample_evoked, fwd, identity_model(sample_surf_forward))


def test_normal_on_volume(sample_evoked, sample_vol_forward):
    # MNE's own check, with MNE's own exception class
    with pytest.raises(
        RuntimeError, match="Normal source orientation is supported only for surface"
    ):
        apply_piunet(
            sample_evoked,
            sample_vol_forward,
            identity_model(sample_vol_forward),
            pick_ori="normal",
        )


def test_grid_too_small(sample_evoked, sample_vol_forward):
    import torch

    model = PIUNet(torch.nn.Identity(), GridSpec((8, 8, 8), 0.01))
    with pytest.raises(ValueError, match="does not fit in the model grid.*8 x 8 x 8"):
        apply_piunet(sample_evoked, sample_vol_forward, model)


def test_bad_model_file(sample_evoked, sample_vol_forward, tmp_path):
    fname = tmp_path / "broken.safetensors"
    fname.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="corrupt, truncated or of another format"):
        apply_piunet(sample_evoked, sample_vol_forward, fname)
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        apply_piunet(sample_evoked, sample_vol_forward, tmp_path / "nope.safetensors")


def test_raw_bad_range(sample_evoked, sample_vol_forward):
    raw = mne.io.RawArray(sample_evoked.data, sample_evoked.info)
    model = identity_model(sample_vol_forward)
    with pytest.raises(ValueError, match="Need 0 <= start < stop"):
        apply_piunet_raw(raw, sample_vol_forward, model, start=10, stop=5)
    with pytest.raises(ValueError, match="buffer_size must be at least 1"):
        apply_piunet_raw(raw, sample_vol_forward, model, buffer_size=0)


def test_raw_generator_yields_the_chunks(sample_evoked, sample_vol_forward):
    """return_generator: one estimate per buffer, together the whole recording."""
    raw = mne.io.RawArray(sample_evoked.data, sample_evoked.info)
    model = tiny_model(sample_vol_forward)
    kwargs = dict(start=5, stop=60, buffer_size=20, pick_ori="vector")
    whole = apply_piunet_raw(raw, sample_vol_forward, model, **kwargs)
    chunks = apply_piunet_raw(
        raw, sample_vol_forward, model, return_generator=True, **kwargs
    )
    assert not isinstance(chunks, list)
    chunks = list(chunks)
    assert [c.data.shape[-1] for c in chunks] == [20, 20, 15]
    assert_allclose([c.tmin for c in chunks], raw.times[[5, 25, 45]])
    assert all(isinstance(c, mne.VolVectorSourceEstimate) for c in chunks)
    assert chunks[0].data.dtype == np.float32
    assert_allclose(np.concatenate([c.data for c in chunks], axis=-1), whole.data)
    assert whole.tmin == pytest.approx(raw.times[5])


def test_default_model(sample_evoked, sample_vol_forward):
    """model=None uses the shipped model (trilinear here: 10 mm sources, 7 mm grid)."""
    evoked = sample_evoked.copy().crop(0.1, 0.12)
    stc = apply_piunet(evoked, sample_vol_forward)
    assert isinstance(stc, mne.VolSourceEstimate)
    assert np.isfinite(stc.data).all() and stc.data.max() > 0
    by_name = apply_piunet(evoked, sample_vol_forward, "default")
    assert_allclose(by_name.data, stc.data)


@pytest.mark.parametrize("name", ["small"])
def test_other_bundled_models_run(name, sample_evoked, sample_vol_forward):
    """The other bundled model's network fits its stored configuration."""
    evoked = sample_evoked.copy().crop(0.1, 0.11)
    stc = apply_piunet(evoked, sample_vol_forward, name)
    assert stc.data.shape == (sample_vol_forward["nsource"], len(evoked.times))
    assert np.isfinite(stc.data).all() and stc.data.max() > 0
    default = apply_piunet(evoked, sample_vol_forward, "default")
    # another network: maps differ by more than rounding
    assert np.abs(stc.data - default.data).max() > 0.01 * np.abs(default.data).max()


def test_operator_reuse_equals_forward(sample_evoked, sample_vol_forward, sample_cov):
    """An operator gives what the forward gives, for evoked, epochs and raw."""
    model = tiny_model(sample_vol_forward)
    evoked = sample_evoked.copy().crop(0.08, 0.11)
    op = make_piunet_operator(evoked.info, sample_vol_forward, sample_cov, model=model)
    assert isinstance(op, PIUNetOperator)
    assert repr(op).startswith("<PIUNetOperator | 60 channels (eeg), ")
    assert "init eLORETA (lambda2=0.1111), given noise covariance" in repr(op)
    ref = apply_piunet(evoked, sample_vol_forward, model, sample_cov)
    assert_allclose(apply_piunet(evoked, op).data, ref.data)
    epochs = mne.EpochsArray(evoked.data[None], evoked.info, tmin=evoked.times[0])
    raw = mne.io.RawArray(evoked.data, evoked.info)
    by_op = apply_piunet_epochs(epochs, op)[0].data
    assert_allclose(
        by_op,
        apply_piunet_epochs(epochs, sample_vol_forward, model, sample_cov)[0].data,
    )
    assert_allclose(
        apply_piunet_raw(raw, op).data, by_op, rtol=1e-5, atol=1e-5 * by_op.max()
    )
    # the operator's settings cannot be overridden at apply time
    with pytest.raises(ValueError, match="model, noise_cov come from the operator"):
        apply_piunet(evoked, op, model, sample_cov)
    with pytest.raises(ValueError, match="lambda2 come from the operator"):
        apply_piunet(evoked, op, lambda2=0.5)
    # data without the operator's channels
    fewer = evoked.copy().drop_channels(["EEG 005"])
    with pytest.raises(ValueError, match=r"missing: \['EEG 005'\], marked bad: \[\]"):
        apply_piunet(fewer, op)
    bad = evoked.copy()
    bad.info["bads"] = ["EEG 007"]
    with pytest.raises(ValueError, match=r"marked bad: \['EEG 007'\]"):
        apply_piunet(bad, op)


@pytest.mark.parametrize("lambda2", [0.0, -1.0, np.nan, np.inf])
def test_bad_lambda2(sample_evoked, sample_vol_forward, lambda2):
    model = identity_model(sample_vol_forward)
    with pytest.raises(ValueError, match="lambda2 must be a finite positive number"):
        apply_piunet(sample_evoked, sample_vol_forward, model, lambda2=lambda2)
    with pytest.raises(TypeError, match="lambda2 must be an instance of"):
        apply_piunet(sample_evoked, sample_vol_forward, model, lambda2="1/9")


def test_too_few_electrodes(sample_evoked, sample_vol_forward):
    evoked = sample_evoked.copy().pick("eeg").pick(range(10))  # keeps the avg ref
    fwd = mne.pick_channels_forward(sample_vol_forward, evoked.ch_names)
    with pytest.raises(ValueError, match="10 good eeg channel.*at least 16"):
        apply_piunet(evoked, fwd, identity_model(sample_vol_forward))


def test_unavailable_device(sample_evoked, sample_vol_forward):
    import torch

    model = identity_model(sample_vol_forward)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"'cuda' is not available.*\['cpu"):
            apply_piunet(sample_evoked, sample_vol_forward, model, device="cuda")
    with pytest.raises(ValueError, match="Invalid device 'gpu7'.*available"):
        apply_piunet(sample_evoked, sample_vol_forward, model, device="gpu7")


def test_unknown_model_name(sample_evoked, sample_vol_forward):
    with pytest.raises(ValueError, match=r"Unknown model 'no_such_model'.*'default'"):
        apply_piunet(sample_evoked, sample_vol_forward, "no_such_model")


def _fixed_map_model(model, volumes):
    """A model whose network returns ``volumes`` (one per sample), whatever it sees."""
    import torch

    class Fixed(torch.nn.Module):
        def forward(self, volume):
            return volumes[: len(volume)].to(volume.dtype)

    return PIUNet(Fixed(), model.grid)


def test_fitted_amplitudes_are_physical(sample_vol_forward, sample_cov):
    """Amplitudes in A·m: they scale with the data, not the network's output."""
    import torch

    from mne_piunet._sensors import forward_eeg_info

    fwd = sample_vol_forward
    info = forward_eeg_info(fwd)
    truth = np.zeros((fwd["nsource"], 3, 4))
    truth[100, :, :] = np.array([1.0, -2.0, 0.5])[:, None] * [1, 2, -3, 0.5] * 1e-8
    truth[900, 2, :] = np.array([2.0, 1.0, -1.0, 3.0]) * 1e-8
    data = fwd["sol"]["data"] @ truth.reshape(-1, 4)
    model = identity_model(fwd)
    grid = VoxelGrid.from_forward(model.grid, fwd)
    pattern = grid.to_volume(torch.as_tensor(truth.transpose(2, 0, 1)).float())
    fixed = _fixed_map_model(model, 7.0 * pattern)  # the truth's pattern at any scale
    kwargs = dict(pick_ori="vector", batch_size=4, **INDEPENDENT_SAMPLES)
    stcs = [
        apply_piunet(
            mne.EvokedArray(scale * (data - data.mean(axis=0)), info, nave=1),
            fwd,
            fixed,
            sample_cov,
            **kwargs,
        )
        for scale in (1.0, 3.0)
    ]
    assert_allclose(stcs[1].data, 3.0 * stcs[0].data, rtol=1e-6)
    # the truth's magnitudes, one factor per time point near 1 (directions: init)
    magnitude = np.linalg.norm(stcs[0].data, axis=1)[[100, 900]]
    ratio = magnitude / np.linalg.norm(truth, axis=1)[[100, 900]]
    assert_allclose(ratio / ratio[0], 1, rtol=1e-4)
    assert np.all((ratio > 0.3) & (ratio < 3))


def test_orientation_from_init(sample_evoked, sample_vol_forward, sample_cov):
    """The network's magnitudes in eLORETA's directions.

    The amplitude is still the least-squares fit: the whitened residual is
    orthogonal to the estimate's whitened projection.
    """
    import torch

    evoked = sample_evoked.copy().crop(0.05, 0.1)
    evoked.data[:, 0] = 0.0  # silent time point: zero, not NaN
    fwd = sample_vol_forward
    model = identity_model(fwd)
    grid = VoxelGrid.from_forward(model.grid, fwd)
    n_times = len(evoked.times)
    rng = np.random.default_rng(0)
    truth = np.zeros((fwd["nsource"], 3, n_times))
    truth[[40, 500, 1200]] = rng.standard_normal((3, 3, n_times))
    pattern = grid.to_volume(torch.as_tensor(truth.transpose(2, 0, 1)).float())

    fixed = _fixed_map_model(model, pattern)
    kwargs = dict(pick_ori="vector", **INDEPENDENT_SAMPLES, batch_size=n_times)
    stc = apply_piunet(evoked, fwd, fixed, sample_cov, **kwargs)
    ref = _mne_stc(evoked, fwd, sample_cov, "eLORETA", "vector").data
    est = stc.data
    norm = np.linalg.norm(est, axis=1)
    on = norm[:, 1:] > 0
    assert set(np.nonzero(on.any(axis=1))[0]) == {40, 500, 1200}
    assert np.all(est[:, :, 0] == 0)
    directions = est / np.where(norm > 0, norm, 1)[:, None]
    ref_dirs = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-30)
    cosine = np.abs((directions * ref_dirs).sum(axis=1))[:, 1:][on]
    assert_allclose(cosine, 1, atol=1e-4)
    # magnitudes proportional to the network's, one factor per time point
    ratio = norm[[40, 500, 1200], 1:] / np.linalg.norm(
        truth[[40, 500, 1200], :, 1:], axis=1
    )
    assert_allclose(ratio / ratio[0], 1, rtol=1e-4)
    # least squares: residual orthogonal to the fit, in the whitened space
    op = make_piunet_operator(evoked.info, fwd, sample_cov, model=model)
    whitener = op.kernel(evoked.nave).whitener
    data = whitener @ evoked.copy().pick(op.ch_names).apply_proj().data
    projected = whitener @ fwd["sol"]["data"] @ est.reshape(-1, n_times)
    inner = ((data - projected) * projected).sum(axis=0)[1:]
    assert_allclose(inner, 0, atol=1e-4 * (projected**2).sum(axis=0)[1:].max())


def test_montage_far_from_training_warns(sample_evoked, sample_vol_forward):
    """The shipped model knows its training electrodes; a partial montage warns."""
    evoked = sample_evoked.copy().pick("eeg")
    back = [ch["ch_name"] for ch in evoked.info["chs"] if ch["loc"][1] < -0.02]
    assert len(back) >= 16
    evoked = evoked.pick(back)
    fwd = mne.pick_channels_forward(sample_vol_forward, back)
    with pytest.warns(
        RuntimeWarning, match=r"near only \d+% of the 61.*finetune_model"
    ):
        make_piunet_operator(evoked.info, fwd, model="default")
    # the full 60-electrode montage covers the training montage: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_piunet_operator(sample_evoked.info, sample_vol_forward, model="default")


def test_smoothing(sample_evoked, sample_vol_forward, sample_cov):
    """The init sees Gaussian-smoothed data; raw chunks smooth across borders."""
    from scipy.ndimage import gaussian_filter1d

    evoked = sample_evoked.copy().pick("eeg").crop(0.0, 0.1)
    model = identity_model(sample_vol_forward)
    kwargs = dict(noise_cov=sample_cov, pick_ori="vector", pattern_smoothing=None)
    stc = apply_piunet(evoked, sample_vol_forward, model, smoothing=0.01, **kwargs)
    sigma = 0.01 * evoked.info["sfreq"] / (2 * np.sqrt(2 * np.log(2)))
    smoothed = evoked.copy()
    smoothed.data = gaussian_filter1d(evoked.data, sigma, axis=-1, mode="nearest")
    ref = _mne_stc(smoothed, sample_vol_forward, sample_cov, "eLORETA", "vector")
    assert_proportional(stc.data, ref.data)
    unsmoothed = apply_piunet(
        evoked, sample_vol_forward, model, smoothing=None, **kwargs
    )
    assert_allclose(
        apply_piunet(evoked, sample_vol_forward, model, smoothing=0, **kwargs).data,
        unsmoothed.data,
    )
    change = np.abs(stc.data - unsmoothed.data).max() / np.abs(stc.data).max()
    assert change > 1e-2  # 10 ms at 600 Hz: a visible change
    # continuous data in chunks of 7 samples: the same as the whole at once
    raw = mne.io.RawArray(evoked.data, evoked.info)
    stc_raw = apply_piunet_raw(
        raw, sample_vol_forward, model, smoothing=0.01, buffer_size=7, **kwargs
    )
    assert_allclose(
        stc_raw.data, stc.data, rtol=1e-4, atol=1e-5 * np.abs(stc.data).max()
    )
    with pytest.raises(ValueError, match="smoothing must be None or >= 0 seconds"):
        apply_piunet(evoked, sample_vol_forward, model, smoothing=-0.1)


def test_pattern_smoothing(sample_evoked, sample_vol_forward, sample_cov, float32):
    """Map shapes are averaged over time; amplitudes stay each time point's own."""
    from scipy.interpolate import interp1d
    from scipy.ndimage import gaussian_filter1d

    evoked = sample_evoked.copy().pick("eeg").crop(0.0, 0.1)
    model = identity_model(sample_vol_forward)
    kwargs = dict(noise_cov=sample_cov, pick_ori="vector", smoothing=None)
    stc = apply_piunet(
        evoked, sample_vol_forward, model, pattern_smoothing=0.01, **kwargs
    )
    # the rule by hand on MNE's eLORETA: the maps of every second sample (the
    # window's sigma is 2.5 samples) over their largest magnitude, interpolated
    # linearly in between; their magnitudes over their maximum, smoothed over
    # time, in eLORETA's directions, times each time's fitted amplitude
    ref = _mne_stc(evoked, sample_vol_forward, sample_cov, "eLORETA", "vector").data
    length = np.linalg.norm(ref, axis=1)
    sigma = 0.01 * evoked.info["sfreq"] / (2 * np.sqrt(2 * np.log(2)))
    assert 2 < sigma < 3
    at = np.arange(0, len(evoked.times), 2)
    maps = interp1d(
        at, ref[..., at] / length[:, at].max(axis=0), fill_value="extrapolate"
    )(np.arange(len(evoked.times)).clip(max=at[-1]))
    magnitude = np.linalg.norm(maps, axis=1)
    shape = gaussian_filter1d(
        magnitude / magnitude.max(axis=0), sigma, axis=1, mode="nearest"
    )
    expected = shape[:, None] * ref / length[:, None]
    assert_proportional(stc.data, expected, rtol=1e-4)
    unsmoothed = apply_piunet(
        evoked, sample_vol_forward, model, pattern_smoothing=None, **kwargs
    ).data
    change = np.abs(stc.data - unsmoothed).max() / np.abs(unsmoothed).max()
    assert change > 1e-2  # 10 ms at 600 Hz: a visible change
    with pytest.raises(ValueError, match="pattern_smoothing must be None or >= 0"):
        apply_piunet(evoked, sample_vol_forward, model, pattern_smoothing=-1)

    # a network and fitted amplitudes: one topography scaled over time keeps
    # one map shape, so smoothing it changes nothing and the size follows the data
    model = tiny_model(sample_vol_forward)
    scaled = evoked.copy()
    factors = np.linspace(0.5, 2.0, len(evoked.times))
    scaled.data = evoked.data[:, [30]] * factors
    per_time = apply_piunet(
        scaled, sample_vol_forward, model, pattern_smoothing=None, **kwargs
    )
    smooth = apply_piunet(
        scaled, sample_vol_forward, model, pattern_smoothing=0.02, **kwargs
    )
    peak = np.abs(per_time.data).max(axis=(0, 1))  # float32 network: rounding
    assert (np.abs(smooth.data - per_time.data).max(axis=(0, 1)) < 1e-3 * peak).all()
    assert_allclose(
        np.abs(smooth.data).max(axis=(0, 1)),
        np.abs(smooth.data[..., 0]).max() * factors / factors[0],
        rtol=1e-4,
    )

    # epochs and raw chunks of 7 samples: the same as the evoked at once
    kwargs.update(smoothing=0.01, pattern_smoothing=0.02)
    whole = apply_piunet(evoked, sample_vol_forward, model, **kwargs)
    epochs = mne.EpochsArray(evoked.data[None], evoked.info, tmin=evoked.times[0])
    (epoch,) = apply_piunet_epochs(epochs, sample_vol_forward, model, **kwargs)
    raw = mne.io.RawArray(evoked.data, evoked.info)
    chunked = apply_piunet_raw(raw, sample_vol_forward, model, buffer_size=7, **kwargs)
    peak = np.abs(whole.data).max(axis=(0, 1))  # float32 network, other batches
    for other in (epoch, chunked):
        assert (np.abs(other.data - whole.data).max(axis=(0, 1)) < 1e-3 * peak).all()


def test_cortical_template_estimates(template_surf_forward):
    """The default model on the cortex: MNE's classes, fsaverage vertices, normals."""
    from mne_piunet.simulation import simulate_evoked
    from mne_piunet.template import make_template_info

    fwd = template_surf_forward
    _, evoked = simulate_evoked(fwd, make_template_info(), 2, snr_db=10, seed=0)
    evoked.crop(0.1, 0.14)
    vec = apply_piunet(evoked, fwd, pick_ori="vector")
    normal = apply_piunet(evoked, fwd, pick_ori="normal")
    assert isinstance(vec, mne.VectorSourceEstimate)
    assert type(normal) is mne.SourceEstimate and normal.subject == "fsaverage"
    for vertices, hemi in zip(normal.vertices, fwd["src"], strict=True):
        assert_allclose(vertices, hemi["vertno"])
        assert vertices.max() < 10242
    normals = np.concatenate([s["nn"][s["vertno"]] for s in fwd["src"]])
    assert_allclose(normal.data, np.einsum("nct,nc->nt", vec.data, normals))


@pytest.mark.parametrize("pick_ori", [None, "vector"])
def test_bfloat16_where_native(
    sample_evoked, sample_vol_forward, sample_cov, pick_ori, monkeypatch
):
    """bf16 autocast where the hardware has it: maps change by little."""
    model = tiny_model(sample_vol_forward)
    evoked = sample_evoked.copy().crop(0.08, 0.12)
    run = dict(noise_cov=sample_cov, pick_ori=pick_ori)
    with monkeypatch.context() as patch:
        patch.setattr("mne_piunet._inverse.bf16_fast", lambda device: False)
        exact = apply_piunet(evoked, sample_vol_forward, model, **run)
    monkeypatch.setattr("mne_piunet._inverse.bf16_fast", lambda device: True)
    with mne.utils.catch_logging(verbose=True) as log:
        fast = apply_piunet(evoked, sample_vol_forward, model, verbose=True, **run)
    assert "on cpu (bfloat16)" in log.getvalue()  # the log says the arithmetic
    assert type(fast) is type(exact)
    assert not np.array_equal(fast.data, exact.data)  # autocast did act
    error = np.abs(fast.data - exact.data).max() / np.abs(exact.data).max()
    assert error < 0.05


def test_blend_with_init(sample_evoked, sample_vol_forward, sample_cov, float32):
    """blend=b mixes the network's map with MNE's eLORETA map, then fits."""
    model = tiny_model(sample_vol_forward)
    evoked = sample_evoked.copy().crop(0.08, 0.1)
    kwargs = dict(pick_ori="vector", **INDEPENDENT_SAMPLES)
    op = make_piunet_operator(evoked.info, sample_vol_forward, sample_cov, model=model)
    inv = make_inverse_operator(
        evoked.info, sample_vol_forward, sample_cov, loose=1.0, verbose=False
    )
    eloreta = apply_inverse(
        evoked, inv, op.lambda2, "eLORETA", pick_ori="vector", verbose=False
    )

    def shape(stc):  # each time point's magnitudes, summing to one
        length = np.linalg.norm(stc.data, axis=1)
        return length / length.sum(axis=0)

    network = apply_piunet(evoked, op, **kwargs)
    half = apply_piunet(evoked, op, blend=0.5, **kwargs)
    assert isinstance(half, mne.VolVectorSourceEstimate)
    assert_allclose(shape(half), 0.5 * shape(network) + 0.5 * shape(eloreta), atol=1e-6)
    assert_allclose(
        shape(apply_piunet(evoked, op, blend=1, **kwargs)), shape(eloreta), atol=1e-6
    )
    # the amplitude is fitted to the blended map: any other scale fits worse
    whitener = op.kernel(evoked.nave).whitener
    data = evoked.copy().pick(op.ch_names).data

    def misfit(moments):
        pred = op.gain @ moments.reshape(-1, len(evoked.times))
        return np.linalg.norm(whitener @ (data - pred))

    assert misfit(half.data) < min(misfit(0.9 * half.data), misfit(1.1 * half.data))
    with pytest.raises(ValueError, match="blend must be a number from 0 to 1, got 1.5"):
        apply_piunet(evoked, op, blend=1.5)
    with pytest.raises(TypeError, match="blend must be an instance of"):
        apply_piunet(evoked, op, blend="half")
