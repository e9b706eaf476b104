import numpy as np
import pytest
import torch

from mne_piunet.simulation import (
    SimulationConfig,
    SourceSimulator,
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
