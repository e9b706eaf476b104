import pytest
import torch

from mne_piunet import UNet3D, UNetConfig


def test_paper_config_size():
    net = UNet3D()
    n_params = sum(p.numel() for p in net.parameters())
    # the paper reports 11.1 M; our attention/upsampling details give ~10.1 M
    assert 9e6 < n_params < 12e6


@pytest.mark.parametrize("shape", [(8, 12, 16), (4, 4, 4)])
def test_shapes_and_grid_sides(shape):
    torch.manual_seed(0)
    net = UNet3D(UNetConfig(base_channels=8, num_res_blocks=1, num_groups=4)).eval()
    x = torch.randn(2, 3, *shape)
    with torch.inference_mode():
        y = net(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_bad_grid_and_config():
    net = UNet3D(UNetConfig(base_channels=8, num_groups=4))
    with pytest.raises(ValueError, match="multiples of 4.*\\(6, 8, 8\\)"):
        net(torch.zeros(1, 3, 6, 8, 8))
    with pytest.raises(ValueError, match="num_groups=8 must divide"):
        UNetConfig(base_channels=12)
    with pytest.raises(ValueError, match="attention_levels must be in 0..2"):
        UNetConfig(attention_levels=(3,))


def test_batch_independence():
    """Each time point is refined on its own: batching must not mix samples."""
    torch.manual_seed(0)
    net = UNet3D(UNetConfig(base_channels=8, num_res_blocks=1, num_groups=4)).eval()
    x = torch.randn(3, 3, 8, 8, 8)
    with torch.inference_mode():
        together = net(x)
        alone = torch.cat([net(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
