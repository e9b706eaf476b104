import pickle

import pytest
import torch

from mne_piunet import GridSpec, PIUNet, UNet3D, UNetConfig, read_model


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
