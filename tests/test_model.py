import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from mne_piunet import (
    GridSpec,
    PIUNet,
    UNet3D,
    UNetConfig,
    UNetEnsemble,
    make_ensemble,
    read_model,
)
from mne_piunet._model import blend_with_init, ensemble_with_info, split_ensemble
from mne_piunet._physics import point_covariances, prior_weighted_minimum_norm


@pytest.fixture
def model():
    torch.manual_seed(0)
    config = UNetConfig(base_channels=8, num_res_blocks=1, num_groups=4)
    info = {"init": "eLORETA", "lambda2": 1 / 16, "training": {"steps": 3}}
    return PIUNet(UNet3D(config), GridSpec((8, 8, 12), 0.007), info)


def test_save_read_round_trip(model, tmp_path):
    fname = tmp_path / "m.safetensors"
    model.save(fname)
    back = read_model(fname)
    assert back.grid == model.grid
    assert back.config == model.config
    assert back.info == model.info
    assert back.lambda2 == pytest.approx(1 / 16)
    x = torch.randn(2, 3, 8, 8, 12)
    with torch.inference_mode():
        torch.testing.assert_close(back.network(x), model.network(x))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(fname)
    model.save(fname, overwrite=True, half=True)
    half = read_model(fname)
    assert half.network.stem.weight.dtype == torch.float32
    with torch.inference_mode():
        torch.testing.assert_close(
            half.network(x), model.network(x), rtol=1e-2, atol=1e-3
        )
    assert "8x8x12 at 7 mm" in repr(half)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_truncated_file(model, tmp_path):
    fname = tmp_path / "m.safetensors"
    model.save(fname)
    data = fname.read_bytes()
    fname.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt, truncated or of another format"):
        read_model(fname)


class _Evil:
    def __reduce__(self):
        return (exec, ("raise SystemExit('code ran')",))


def test_pickled_code_is_refused(tmp_path):
    fname = tmp_path / "evil.safetensors"
    fname.write_bytes(pickle.dumps({"weights": _Evil()}))
    with pytest.raises(ValueError, match="corrupt, truncated or of another format"):
        read_model(fname)
    torch.save({"w": torch.zeros(2)}, tmp_path / "torch.pt")
    with pytest.raises(ValueError, match="corrupt, truncated or of another format"):
        read_model(tmp_path / "torch.pt")


def test_foreign_safetensors(tmp_path):
    from safetensors.torch import save_file

    fname = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, fname)
    with pytest.raises(ValueError, match="not an mne-piunet model"):
        read_model(fname)


def test_bad_construction():
    with pytest.raises(ValueError, match="not divisible by the network's size"):
        PIUNet(
            UNet3D(UNetConfig(base_channels=8, num_groups=4)),
            GridSpec((6, 8, 8), 0.007),
        )
    with pytest.raises(TypeError, match="grid must be an instance of GridSpec"):
        PIUNet(torch.nn.Identity(), (8, 8, 8))
    with pytest.raises(TypeError, match="not JSON serializable"):
        PIUNet(torch.nn.Identity(), GridSpec((8, 8, 8), 0.007), {"x": object()})
    with pytest.raises(TypeError, match="Only models whose network is a UNet3D"):
        PIUNet(torch.nn.Identity(), GridSpec((8, 8, 8), 0.007)).save("x.st")


def test_ensemble(model, tmp_path):
    """The weighted mean of its members; saved and read with both weight sets."""
    torch.manual_seed(1)
    wide = UNet3D(UNetConfig(base_channels=16, num_res_blocks=1, num_groups=8))
    ensemble = UNetEnsemble([model.network, wide], weights=(3.0, 1.0))
    assert ensemble.weights == (0.75, 0.25)
    x = torch.randn(2, 3, 8, 8, 12)
    with torch.inference_mode():
        expected = 0.75 * model.network(x) + 0.25 * wide(x)
        torch.testing.assert_close(ensemble(x), expected)
    combined = PIUNet(ensemble, model.grid, model.info)
    assert combined.config is None  # no single architecture
    fname = tmp_path / "ensemble.safetensors"
    combined.save(fname)
    back = read_model(fname)
    assert isinstance(back.network, UNetEnsemble)
    assert back.network.weights == ensemble.weights
    assert [m.config for m in back.network.members] == [model.config, wide.config]
    with torch.inference_mode():
        torch.testing.assert_close(back.network(x), expected)
    with pytest.raises(ValueError, match="not divisible by the network's size"):
        PIUNet(ensemble, GridSpec((6, 8, 8), 0.007))


def test_make_and_split_ensemble(model, tmp_path):
    """Models combine into one that keeps each card, and split back after a save."""
    torch.manual_seed(2)
    wide_config = UNetConfig(base_channels=16, num_res_blocks=1, num_groups=8)
    wide_info = dict(model.info, training={"steps": 7})
    wide = PIUNet(UNet3D(wide_config), model.grid, wide_info)
    combined = make_ensemble([model, wide], weights=(1.0, 3.0))
    assert combined.network.weights == (0.25, 0.75)
    assert combined.lambda2 == model.lambda2 and "training" not in combined.info
    cards = combined.info["ensemble"]["members"]
    assert [c["training"]["steps"] for c in cards] == [3, 7]
    fname = tmp_path / "ensemble.safetensors"
    combined.save(fname)
    members = split_ensemble(read_model(fname))
    assert [m.config for m in members] == [model.config, wide_config]
    assert [m.info["training"]["steps"] for m in members] == [3, 7]
    assert all(m.lambda2 == model.lambda2 and m.grid == model.grid for m in members)
    x = torch.randn(1, 3, 8, 8, 12)
    with torch.inference_mode():
        for member, original in zip(members, (model, wide), strict=True):
            torch.testing.assert_close(member.network(x), original.network(x))
    assert split_ensemble(model) == [model]
    # a member trained on another head keeps its own head model in its card
    first = PIUNet(model.network, model.grid, dict(model.info, head_model={"n": 61}))
    moved = PIUNet(wide.network, model.grid, dict(wide_info, head_model={"n": 60}))
    mixed = ensemble_with_info([first, moved], None, {"head_model": {"n": 60}})
    assert mixed.info["head_model"] == {"n": 60}
    heads = [m.info["head_model"] for m in split_ensemble(mixed)]
    assert heads == [{"n": 61}, {"n": 60}]


def test_make_ensemble_errors(model):
    other_grid = PIUNet(model.network, GridSpec((8, 8, 16), 0.007), model.info)
    with pytest.raises(ValueError, match=r"models\[1\]'s grid .* differs"):
        make_ensemble([model, other_grid])
    other_lambda2 = PIUNet(model.network, model.grid, dict(model.info, lambda2=1.0))
    with pytest.raises(ValueError, match=r"models\[1\]'s lambda2 \(1.0\) differs"):
        make_ensemble([model, other_lambda2])
    with pytest.raises(TypeError, match=r"models\[1\] must be an instance of PIUNet"):
        make_ensemble([model, model.network])
    with pytest.raises(ValueError, match="at least one model"):
        make_ensemble([])
    with pytest.raises(TypeError, match="non-empty list of UNet3D"):
        make_ensemble([PIUNet(torch.nn.Identity(), model.grid)])


def test_ensemble_errors(model):
    with pytest.raises(TypeError, match="non-empty list of UNet3D, got"):
        UNetEnsemble([model.network, torch.nn.Identity()])
    with pytest.raises(TypeError, match="non-empty list of UNet3D"):
        UNetEnsemble([])
    with pytest.raises(ValueError, match="weights must be 2 positive numbers"):
        UNetEnsemble([model.network, model.network], weights=(1.0,))
    with pytest.raises(ValueError, match="weights must be 2 positive numbers"):
        UNetEnsemble([model.network, model.network], weights=(1.0, 0.0))


def test_blend_with_init_keeps_directions_and_total():
    """Magnitudes mix as maps summing to one; directions stay the pattern's."""
    pattern = torch.tensor([[[2.0, 0, 0], [0, 0, 0], [0, 2.0, 0]]])
    init = torch.tensor([[[0, 0, 1.0], [0, 3.0, 0], [0, 0, 0]]])
    out = blend_with_init(pattern, init, 0.25)
    # pattern 1/2, 0, 1/2 and init 1/4, 3/4, 0, mixed 3:1, times the total 4
    assert torch.allclose(out.norm(dim=2), torch.tensor([[1.75, 0.75, 1.5]]))
    unit = out / out.norm(dim=2, keepdim=True)
    # the pattern's directions; the init's where the pattern is zero
    assert torch.allclose(unit, torch.tensor([[[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]]]))
    assert torch.equal(blend_with_init(pattern, init, 0.0), pattern)
    assert not blend_with_init(torch.zeros_like(pattern), init, 0.5).any()


def _wmn_reference(prior, data, gain, lambda2, depth):
    """The prior-weighted minimum norm written out with numpy, one sample."""
    g3 = gain.reshape(len(gain), -1, 3)
    r = np.repeat(prior * (g3**2).sum(axis=(0, 2)) ** -depth, 3)
    cov = (gain * r) @ gain.T
    norm = np.trace(cov) / len(gain)
    x = (gain * r).T @ np.linalg.solve(cov / norm + lambda2 * np.eye(len(gain)), data)
    return (x / norm).reshape(-1, 3)


def _finish(prior, data, gain, **kwargs):
    """prior_weighted_minimum_norm of numpy arrays, lambda2 0.1, as numpy."""
    tensors = (torch.tensor(a) for a in (prior, data, gain))
    return prior_weighted_minimum_norm(*tensors, lambda2=0.1, **kwargs).numpy()


def test_prior_weighted_minimum_norm():
    """The closed form; silenced points stay zero; the prior's scale is irrelevant."""
    rng = np.random.default_rng(0)
    gain = rng.standard_normal((6, 5 * 3))
    data = rng.standard_normal((2, 6))
    prior = rng.uniform(0.1, 1.0, (2, 5))
    prior[1, 2] = 0.0  # a point the prior silences
    out = _finish(prior, data, gain, sharpness=0)
    for k in range(2):
        ref = _wmn_reference(prior[k], data[k], gain, 0.1, 0.8)
        assert_allclose(out[k], ref, rtol=1e-10, atol=1e-14)
    assert not out[1, 2].any()
    scaled = _finish(7 * prior, data, gain, sharpness=0)
    assert_allclose(scaled, out, rtol=1e-10)
    # with the points' covariances kept: the same up to their float32 rounding
    covariances = point_covariances(torch.tensor(gain))
    assert covariances.shape == (5, 6 * 7 // 2)
    kept = _finish(prior, data, gain, sharpness=0, covariances=covariances)
    assert_allclose(kept, out, rtol=1e-5, atol=1e-6 * np.abs(out).max())
    assert not kept[1, 2].any()


def _sharpened_reference(prior, data, gain, lambda2, sharpness):
    """The sharpened finish written out with numpy, one sample."""
    first = _wmn_reference(prior, data, gain, lambda2, 0.8)
    residual = np.sum((data - gain @ first.ravel()) ** 2)
    snr_db = 10 * np.log10((np.sum(data**2) - residual) / residual)
    exponent = sharpness * np.clip((snr_db - 10) / 6, 0, 1)
    g3 = gain.reshape(len(gain), -1, 3)
    r = np.repeat(prior * (g3**2).sum(axis=(0, 2)) ** -0.8, 3)
    cov = (gain * r) @ gain.T
    inverse = np.linalg.inv(
        cov / (np.trace(cov) / len(gain)) + lambda2 * np.eye(len(gain))
    )
    fit = ((gain.T @ inverse @ data).reshape(-1, 3) ** 2).sum(axis=1)
    fit /= np.einsum("ci,cd,di->i", gain, inverse, gain).reshape(-1, 3).sum(axis=1)
    weight = (fit / fit.max()) ** (exponent / 2)
    return _wmn_reference(prior * weight, data, gain, lambda2, 0.8), exponent


def test_sharpened_finish():
    """The data's standardised fit sharpens the prior, by the fit's SNR."""
    rng = np.random.default_rng(1)
    smooth = np.exp(-0.5 * ((np.arange(40)[:, None] - np.arange(40)) / 3.0) ** 2)
    gain = np.einsum("cjk,ij->cik", rng.standard_normal((60, 40, 3)), smooth)
    gain = gain.reshape(60, -1)  # neighbouring points see alike, as in a head
    prior = np.exp(-0.5 * ((np.arange(40) - 12) / 1.5) ** 2)  # peaks at point 12
    clean = gain[:, 3 * 15 : 3 * 15 + 3] @ np.array([1.0, -0.5, 0.3])  # point 15
    noise = rng.standard_normal((3, 60)) * np.linalg.norm(clean) / np.sqrt(60)
    data = clean + noise * np.array([[0.0], [0.01], [3.0]])  # no noise to -10 dB
    prior = np.tile(prior, (3, 1))
    out = _finish(prior, data, gain)
    exponents = []
    for k in range(3):
        ref, exponent = _sharpened_reference(prior[k], data[k], gain, 0.1, 16)
        assert_allclose(out[k], ref, rtol=1e-8, atol=1e-12 * np.abs(ref).max())
        exponents.append(exponent)
    assert exponents[0] == exponents[1] == 16 and exponents[2] == 0
    plain = _finish(prior, data, gain, sharpness=0)
    # clean data: the source's point, where the prior alone peaks elsewhere
    amplitude = np.linalg.norm(out, axis=2)
    assert amplitude[0].argmax() == amplitude[1].argmax() == 15
    assert np.linalg.norm(plain[0], axis=1).argmax() != 15
    assert_allclose(out[2], plain[2], rtol=1e-10)  # noisy: the prior as it is
