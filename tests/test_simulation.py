import mne
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from mne_piunet._sensors import covariance_root
from mne_piunet.simulation import (
    SimulationConfig,
    SourceSimulator,
    grow_patch,
    simulate_evoked,
    simulate_patches,
    simulate_sources,
    torch_generator,
)


@pytest.fixture(scope="module")
def fwd():
    from mne_piunet.template import make_template_forward

    return make_template_forward()


def test_snr_and_counts(fwd):
    cfg = SimulationConfig(n_sources=(2, 6), extent=(0.01, 0.02), snr_db=(3.0, 3.0))
    sim = SourceSimulator(fwd, cfg)
    b = sim.sample(200, torch_generator(0))
    signal = b.sources.reshape(200, -1) @ sim.leadfield.T
    noise = b.sensors - signal
    snr = 10 * torch.log10(signal.pow(2).mean(1) / noise.pow(2).mean(1))
    assert abs(float(snr.mean()) - 3.0) < 0.5
    assert torch.allclose(
        b.sensors.mean(1), torch.zeros(200), atol=1e-4 * float(b.sensors.abs().max())
    )  # average reference
    assert int(b.n_active.min()) == 2 and int(b.n_active.max()) == 6
    assert torch.equal((b.centers >= 0).sum(1), b.n_active)
    used = b.extents[b.extents > 0]
    assert float(used.min()) >= 0.01 and float(used.max()) <= 0.02
    assert float(used.std()) > 0.002  # drawn, not constant


def test_extent_shapes_the_blob(fwd):
    pos = SourceSimulator(fwd).positions
    for std in (0.006, 0.03):
        cfg = SimulationConfig(n_sources=(1, 1), extent=(std, std), snr_db=(30, 30))
        b = SourceSimulator(fwd, cfg).sample(20, torch_generator(1))
        amp = b.sources.norm(dim=2)
        center = pos[b.centers[:, 0]]
        d2 = ((pos[None] - center[:, None]) ** 2).sum(-1)
        w = amp / amp.sum(1, keepdim=True)
        # weighted spread of a 3D Gaussian profile ~ sqrt(3) std, cut by the brain
        spread = torch.sqrt((w * d2).sum(1)).median()
        assert 0.5 * std < float(spread) < 2.0 * std


def test_single_source_oversampling(fwd):
    cfg = SimulationConfig(n_sources=(1, 20), single_source_prob=0.5)
    b = SourceSimulator(fwd, cfg).sample(400, torch_generator(2))
    frac = float((b.n_active == 1).float().mean())
    assert 0.45 < frac < 0.6  # 0.5 + 0.5 / 20


def test_config_per_batch(fwd):
    """A batch may be drawn from another distribution than the simulator's."""
    sim = SourceSimulator(fwd, SimulationConfig(n_sources=(4, 6)))
    other = SimulationConfig(n_sources=(1, 1), extent=(0.006, 0.006))
    b = sim.sample(50, torch_generator(3), config=other)
    assert torch.equal(b.n_active, torch.ones(50, dtype=b.n_active.dtype))
    assert torch.allclose(b.extents[:, 0], torch.full((50,), 0.006))
    assert int(sim.sample(50, torch_generator(3)).n_active.min()) == 4


def test_seed_reproducibility(fwd):
    a = simulate_sources(fwd, 5, seed=3)
    b = simulate_sources(fwd, 5, seed=np.random.default_rng(3))
    c = simulate_sources(fwd, 5, seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[1], c[1])
    assert a[0].shape == (5, fwd["nsource"], 3) and a[1].shape == (5, 61)


def test_bad_config():
    with pytest.raises(ValueError, match="n_sources must satisfy"):
        SimulationConfig(n_sources=(0, 3))
    with pytest.raises(ValueError, match="single_source_prob"):
        SimulationConfig(single_source_prob=2)


def _eeg_info(evoked):
    return mne.pick_info(evoked.info, mne.pick_types(evoked.info, eeg=True))


def test_grow_patch_area_and_connectivity(sample_surf_forward):
    hemi = sample_surf_forward["src"][0]
    patch = grow_patch(hemi, 5, 3e-4)
    assert patch[0] == 5 and len(set(patch)) == len(patch)
    # every vertex but the seed shares a triangle with an earlier one
    tris = hemi["use_tris"] if hemi["use_tris"] is not None else hemi["tris"]
    for k, v in enumerate(patch[1:], 1):
        neighbours = np.unique(tris[(tris == v).any(axis=1)])
        assert np.isin(neighbours, patch[:k]).any()
    small, large = grow_patch(hemi, 5, 1e-4), grow_patch(hemi, 5, 6e-4)
    assert len(small) < len(patch) < len(large)
    # sphere of radius 25 mm, 162 vertices: ~0.48 cm² per vertex
    per_vertex = 4 * np.pi * 0.025**2 / hemi["nuse"]
    assert abs(len(patch) * per_vertex - 3e-4) < 2 * per_vertex


def test_simulate_evoked_surface(sample_surf_forward, sample_evoked):
    info = _eeg_info(sample_evoked)
    stc, evoked = simulate_evoked(
        sample_surf_forward, info, n_sources=2, snr_db=None, seed=4
    )
    assert isinstance(stc, mne.SourceEstimate)
    assert stc.data.shape[1] == len(evoked.times)
    assert evoked.times[0] == pytest.approx(-0.1, abs=1 / info["sfreq"])
    # noise-free: the sensors are MNE's forward model of the true sources
    fwd = mne.convert_forward_solution(sample_surf_forward, force_fixed=True)
    expected = mne.apply_forward(fwd, stc, evoked.info)
    expected.set_eeg_reference(projection=True).apply_proj()
    scale = np.abs(expected.data).max()
    assert 1e-7 < scale < 1e-3  # microvolts to hundreds of microvolts
    assert_allclose(evoked.copy().apply_proj().data, expected.data, atol=1e-6 * scale)
    # at most two patches are active and the waveforms peak after the stimulus
    peak_time = evoked.times[np.abs(evoked.data).max(axis=0).argmax()]
    assert 0.03 < peak_time < 0.4
    again, _ = simulate_evoked(sample_surf_forward, info, 2, snr_db=None, seed=4)
    assert_allclose(again.data, stc.data)


def test_simulate_evoked_volume_snr(sample_vol_forward, sample_evoked):
    info = _eeg_info(sample_evoked)
    clean_stc, clean = simulate_evoked(sample_vol_forward, info, 3, snr_db=None, seed=1)
    stc, noisy = simulate_evoked(sample_vol_forward, info, 3, snr_db=5.0, seed=1)
    assert isinstance(stc, mne.VolVectorSourceEstimate)
    assert_allclose(stc.data, clean_stc.data)
    noise = noisy.data - clean.data
    snr = 10 * np.log10((clean.data**2).mean() / (noise**2).mean())
    assert snr == pytest.approx(5.0, abs=0.01)
    assert_allclose(noise.mean(axis=0), 0, atol=1e-3 * np.abs(noise).max())


def test_grow_patch_skips_dropped_vertices(template_surf_forward):
    """The cortex template lost a few vertices near the skull: patches avoid them."""
    hemi = template_surf_forward["src"][0]
    assert hemi["nuse"] < hemi["np"]  # the forward's mindist dropped some
    patch = grow_patch(hemi, 100, 5e-4)
    assert patch[0] == 100 and patch.max() < hemi["nuse"]
    assert len(set(patch)) == len(patch) > 5


def test_simulate_patches(template_surf_forward, sample_vol_forward):
    fwd = template_surf_forward
    batch = simulate_patches(fwd, 6, 2, snr_db=10.0, seed=3)
    assert batch.sources.shape == (6, fwd["nsource"], 3)
    assert batch.sensors.shape == (6, fwd["nchan"])
    normals = np.concatenate([s["nn"][s["vertno"]] for s in fwd["src"]])
    sources = batch.sources.numpy()
    # every active point's moment lies along its normal
    amp = np.linalg.norm(sources, axis=2)
    along = np.abs((sources * normals).sum(2))
    assert_allclose(along[amp > 0], amp[amp > 0], rtol=1e-5)
    # two patches of 1-10 cm²: the seeds are active, the rest of the cortex not
    for i in range(6):
        assert (amp[i, batch.centers[i].numpy()] > 0).all()
        assert 2 <= (amp[i] > 0).sum() < 0.05 * fwd["nsource"]
    radius = batch.extents.numpy()
    assert (radius >= np.sqrt(1e-4 / np.pi)).all()
    assert (radius <= np.sqrt(10e-4 / np.pi)).all()
    # the noise has the requested power
    from mne_piunet._sensors import average_reference

    clean = sources.reshape(6, -1) @ average_reference(fwd["sol"]["data"]).T
    noise = batch.sensors.numpy() - clean
    snr = 10 * np.log10((clean**2).mean(1) / (noise**2).mean(1))
    assert_allclose(snr, 10.0, atol=1e-3)
    again = simulate_patches(fwd, 6, 2, snr_db=10.0, seed=3)
    assert torch.equal(again.sensors, batch.sensors)
    with pytest.raises(ValueError, match="surface source space"):
        simulate_patches(sample_vol_forward, 2, 1, snr_db=10.0)


def test_simulate_evoked_meg_and_eeg(sample_meg_forward, sample_evoked):
    """MEG rows are the forward model as it is; only EEG rows are referenced."""
    info = sample_evoked.copy().pick(["meg", "eeg", "stim"]).info
    stc, clean = simulate_evoked(sample_meg_forward, info, 2, snr_db=None, seed=3)
    assert clean.get_channel_types(unique=True) == ["grad", "mag", "eeg"]
    fwd = mne.pick_channels_forward(sample_meg_forward, clean.ch_names, ordered=True)
    signal = fwd["sol"]["data"] @ stc.data.reshape(-1, len(clean.times))
    eeg = mne.pick_types(clean.info, meg=False, eeg=True)
    meg = mne.pick_types(clean.info, meg=True)
    assert_allclose(clean.data[meg], signal[meg])
    assert_allclose(clean.data[eeg], signal[eeg] - signal[eeg].mean(axis=0))
    # noise at each type's ad-hoc level, the SNR over all of them in those units
    _, noisy = simulate_evoked(sample_meg_forward, info, 2, snr_db=0.0, seed=3)
    noise = noisy.data - clean.data
    sigma = np.sqrt(mne.make_ad_hoc_cov(clean.info).data)
    types = np.array(clean.get_channel_types())
    levels = {
        kind: np.std(noise[types == kind] / sigma[types == kind, None])
        for kind in ("grad", "mag", "eeg")
    }
    assert levels["grad"] == pytest.approx(levels["mag"], rel=0.05)
    assert levels["eeg"] == pytest.approx(levels["mag"], rel=0.05)
    power = ((clean.data / sigma[:, None]) ** 2).mean()
    assert 10 * np.log10(power / ((noise / sigma[:, None]) ** 2).mean()) == (
        pytest.approx(0.0, abs=0.01)
    )


def test_source_simulator_meg_and_eeg(sample_meg_forward):
    """Training data for M/EEG: only EEG rows referenced, noise per type's level."""
    from mne_piunet._sensors import forward_data_info, noise_levels
    from mne_piunet.simulation import (
        SimulationConfig,
        SourceSimulator,
        background_noise_covariance,
    )

    info = forward_data_info(sample_meg_forward)
    types = np.array(info.get_channel_types())
    eeg, levels = types == "eeg", noise_levels(info)
    assert sorted(set(types)) == ["eeg", "grad", "mag"]
    sim = SourceSimulator(sample_meg_forward, SimulationConfig(snr_db=(0.0, 0.0)))
    batch = sim.sample(64, torch.Generator().manual_seed(0))
    signal = batch.sources.reshape(64, -1).double().numpy()
    signal = signal @ sample_meg_forward["sol"]["data"].T
    signal[:, eeg] -= signal[:, eeg].mean(axis=1, keepdims=True)
    noise = batch.sensors.double().numpy() - signal
    assert_allclose(noise[:, eeg].mean(axis=1), 0, atol=1e-4 * np.abs(noise).max())
    spread = {k: np.std(noise[:, types == k] / levels[types == k]) for k in set(types)}
    assert spread["grad"] == pytest.approx(spread["mag"], rel=0.05)
    assert spread["eeg"] == pytest.approx(spread["mag"], rel=0.05)
    # background noise: a covariance, EEG referenced, each type near its level
    rng = np.random.default_rng(0)
    cov = background_noise_covariance(sample_meg_forward, 200, 0.0, rng)
    scale = np.abs(cov).max()
    assert_allclose(cov, cov.T, atol=1e-12 * scale)
    assert np.linalg.eigvalsh(cov).min() > -1e-9 * scale
    assert_allclose(cov[np.ix_(eeg, eeg)].sum(axis=0), 0, atol=1e-9 * scale)
    relative = np.sqrt(np.diag(cov)) / levels
    for kind in ("grad", "mag"):
        assert 0.2 < np.median(relative[types == kind]) / np.median(relative) < 5


def test_source_simulator_on_a_meg_forward_file(sample_meg_forward, tmp_path):
    """A forward read from FIF has a big-endian gain; MEG rows are used as read."""
    from mne_piunet.simulation import SourceSimulator

    fwd = mne.pick_types_forward(sample_meg_forward, meg=True, eeg=False)
    mne.write_forward_solution(tmp_path / "meg-fwd.fif", fwd)
    read = mne.read_forward_solution(tmp_path / "meg-fwd.fif")
    sim = SourceSimulator(read)
    assert_allclose(sim.leadfield.numpy(), fwd["sol"]["data"], rtol=1e-6)


def test_covariance_root_of_a_rank_deficient_covariance():
    """C @ C.T is the covariance, also after an average reference (rank n - 1)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    centre = np.eye(6) - 1 / 6  # the average reference
    cov = centre @ (a @ a.T) @ centre
    root = covariance_root(cov)
    assert_allclose(root @ root.T, cov, atol=1e-12)
    assert np.isfinite(root).all()
