import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from mne_piunet import GridSpec, VoxelGrid


def _lattice(spacing, n=(5, 6, 4), offset=(0.01, -0.02, 0.03)):
    ijk = np.array(list(np.ndindex(*n)), float)
    return ijk * spacing + offset


def test_gridspec_validation():
    assert GridSpec([8, 8, 8], 0.007).shape == (8, 8, 8)
    with pytest.raises(ValueError, match="three ints"):
        GridSpec((8, 8), 0.007)
    with pytest.raises(ValueError, match="spacing must be positive"):
        GridSpec((8, 8, 8), 0.0)


def test_lattice_points_map_one_to_one():
    rng = np.random.default_rng(0)
    points = _lattice(0.007)[rng.permutation(120)[:80]]
    grid = VoxelGrid(GridSpec((8, 8, 8), 0.007), points)
    assert grid.exact
    assert grid.mask.sum() == len(points)
    src = torch.as_tensor(rng.standard_normal((4, len(points), 3)))
    vol = grid.to_volume(src)
    assert vol.shape == (4, 3, 8, 8, 8) and vol.dtype == torch.float64
    assert_allclose(grid.to_sources(vol), src)
    # each voxel holds exactly one point's vector, per sample and component
    mask = torch.as_tensor(grid.mask)
    assert_allclose(np.sort(vol[2, 1][mask]), np.sort(src[2, :, 1]))
    # points sit in the middle of the grid
    ijk = np.round((points - grid.origin) / 0.007)
    assert ijk.min() >= 1 and ijk.max() <= 6


def test_off_lattice_points_use_trilinear_weights():
    rng = np.random.default_rng(1)
    points = rng.uniform(-0.02, 0.02, (50, 3))
    spec = GridSpec((12, 12, 12), 0.005)
    grid = VoxelGrid(spec, points)
    assert not grid.exact
    # gathering a linear field interpolates it exactly
    ijk = np.stack(np.meshgrid(*[np.arange(12)] * 3, indexing="ij"), -1)
    pos = grid.origin + ijk * spec.spacing
    a = np.array([1.0, -2.0, 0.5])
    field = np.broadcast_to((pos @ a + 3.0)[None, None], (2, 3, 12, 12, 12))
    field = torch.as_tensor(field.copy())
    assert_allclose(grid.to_sources(field)[0, :, 0], points @ a + 3.0)
    # splatting a constant field gives the constant where points touch the grid
    vol = grid.to_volume(torch.ones((2, 50, 3)))
    mask = torch.as_tensor(grid.mask)
    assert_allclose(vol[:, :, mask], 1.0, rtol=1e-6)
    assert torch.all(vol[:, :, ~mask] == 0)


def test_does_not_fit():
    points = _lattice(0.007, n=(10, 4, 4))
    with pytest.raises(
        ValueError, match="needs 10 x 4 x 4 voxels at 7 mm, the grid has 8 x 8 x 8"
    ):
        VoxelGrid(GridSpec((8, 8, 8), 0.007), points)
    # the same extent off the lattice needs a voxel more on each side
    with pytest.raises(ValueError, match="does not fit"):
        VoxelGrid(
            GridSpec((10, 8, 8), 0.007),
            points + [0.001, 0, 0] * (np.arange(len(points))[:, None] % 2),
        )
