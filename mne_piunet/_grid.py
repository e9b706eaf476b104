"""Regular voxel grid and the sparse maps between source points and voxels."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only
    import mne

from dataclasses import dataclass

import numpy as np
import torch
from mne.transforms import apply_trans, invert_transform
from mne.utils import logger
from scipy import sparse

from ._mne_private import validate_type

# Points closer than this (in voxels) to the lattice are treated as on it.
_LATTICE_TOL = 1e-3


@dataclass(frozen=True)
class GridSpec:
    """Shape and spacing of a model's voxel grid.

    Parameters
    ----------
    shape : tuple of int
        Number of voxels along x, y and z.
    spacing : float
        Voxel side length in metres.
    """

    shape: tuple[int, int, int]
    spacing: float

    def __post_init__(self):
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 3 or min(shape) < 2:
            raise ValueError(f"shape must be three ints >= 2, got {self.shape}")
        if not float(self.spacing) > 0:
            raise ValueError(f"spacing must be positive, got {self.spacing}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", float(self.spacing))

    @property
    def n_voxels(self) -> int:
        """Total number of voxels."""
        return int(np.prod(self.shape))


def forward_source_positions(forward: mne.Forward) -> np.ndarray:
    """Return the forward's source positions in its MRI frame (metres).

    Parameters
    ----------
    forward : instance of Forward
        The forward solution.

    Returns
    -------
    rr : ndarray, shape (n_sources, 3)
        Positions of the sources in use, in the order of the forward's columns.
    """
    from mne.io.constants import FIFF

    rr = []
    for s in forward["src"]:
        pos = s["rr"][s["vertno"]]
        if s["coord_frame"] == FIFF.FIFFV_COORD_HEAD:
            pos = apply_trans(invert_transform(forward["mri_head_t"]), pos)
        rr.append(pos)
    return np.concatenate(rr, axis=0)


class VoxelGrid:
    """A model grid placed around a set of source points.

    The grid is centred on the bounding box of the points. When the points
    lie on a lattice with the grid's spacing (e.g. a volume source space of
    that spacing), each point owns exactly one voxel; otherwise points and
    voxels are linked by trilinear weights.

    Parameters
    ----------
    spec : GridSpec
        Grid shape and spacing.
    points : ndarray, shape (n_points, 3)
        Source positions in metres (MRI frame).

    Attributes
    ----------
    points : ndarray, shape (n_points, 3)
        The source positions.
    origin : ndarray, shape (3,)
        Position of voxel (0, 0, 0) in metres.
    exact : bool
        Whether the points map one-to-one onto voxels.
    """

    def __init__(self, spec: GridSpec, points: np.ndarray):
        validate_type(spec, GridSpec, "spec")
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
            raise ValueError(f"points must have shape (n, 3), got {points.shape}")
        self.spec = spec
        self.points = points
        self.n_points = len(points)
        self.exact = _on_lattice(points, spec.spacing)
        self.origin = _place_origin(spec, points, self.exact)
        coords = (points - self.origin) / spec.spacing
        if self.exact:
            weights = _nearest_weights(coords, spec.shape)
        else:
            weights = _trilinear_weights(coords, spec.shape)
        # gather: volume -> points (interpolation); splat: points -> volume,
        # each voxel the weighted mean of the points that touch it.
        voxel_sum = np.asarray(weights.sum(axis=0)).ravel()
        inv_sum = np.divide(
            1.0, voxel_sum, out=np.zeros_like(voxel_sum), where=voxel_sum > 0
        )
        self._maps = {}  # (device, dtype) -> (splat, gather) as torch sparse
        self._scipy_maps = ((sparse.diags(inv_sum) @ weights.T).tocoo(), weights)
        self.mask = (voxel_sum > 0).reshape(spec.shape)
        logger.info(
            f"    Grid {'x'.join(map(str, spec.shape))} at "
            f"{spec.spacing * 1e3:g} mm holds {self.n_points} sources "
            f"({'one voxel each' if self.exact else 'trilinear'}) in "
            f"{int(self.mask.sum())} voxels"
        )

    @classmethod
    def from_forward(cls, spec: GridSpec, forward: mne.Forward) -> VoxelGrid:
        """Place a grid around the sources of a forward solution.

        Parameters
        ----------
        spec : GridSpec
            Grid shape and spacing.
        forward : instance of Forward
            The forward solution.

        Returns
        -------
        grid : VoxelGrid
            The placed grid.
        """
        return cls(spec, forward_source_positions(forward))

    def _torch_maps(self, like):
        """Return the (splat, gather) sparse matrices on ``like``'s device and dtype."""
        key = (like.device, like.dtype)
        if key not in self._maps:
            self._maps[key] = tuple(
                _torch_sparse(mat, like.device, like.dtype) for mat in self._scipy_maps
            )
        return self._maps[key]

    def to_volume(self, sources: torch.Tensor) -> torch.Tensor:
        """Map batches of source vector fields onto the grid.

        Parameters
        ----------
        sources : torch.Tensor, shape (n, n_points, 3)
            Dipole moments per point, for ``n`` samples (or time points).

        Returns
        -------
        volume : torch.Tensor, shape (n, 3, X, Y, Z)
            The fields on the grid (zero where no point maps), on the
            device of ``sources``.
        """
        splat, _ = self._torch_maps(sources)
        n = sources.shape[0]
        flat = sources.permute(1, 0, 2).reshape(self.n_points, n * 3)
        flat = torch.sparse.mm(splat, flat)  # (n_voxels, n * 3)
        volume = flat.reshape(self.spec.n_voxels, n, 3).permute(1, 2, 0)
        return volume.reshape(n, 3, *self.spec.shape)

    def to_sources(self, volume: torch.Tensor) -> torch.Tensor:
        """Read batches of grid fields back at the source points.

        Parameters
        ----------
        volume : torch.Tensor, shape (n, 3, X, Y, Z)
            Fields on the grid.

        Returns
        -------
        sources : torch.Tensor, shape (n, n_points, 3)
            The fields at the points.
        """
        _, gather = self._torch_maps(volume)
        n = volume.shape[0]
        flat = volume.reshape(n * 3, self.spec.n_voxels).T
        flat = torch.sparse.mm(gather, flat)  # (n_points, n * 3)
        return flat.reshape(self.n_points, n, 3).permute(1, 0, 2)


def _torch_sparse(mat, device, dtype):
    mat = mat.tocoo()
    indices = torch.as_tensor(np.vstack([mat.row, mat.col]), dtype=torch.long)
    values = torch.as_tensor(mat.data, dtype=dtype)
    out = torch.sparse_coo_tensor(indices, values, mat.shape, check_invariants=True)
    return out.coalesce().to(device)


def _on_lattice(points, spacing):
    rel = (points - points.min(axis=0)) / spacing
    return bool(np.abs(rel - np.round(rel)).max() < _LATTICE_TOL)


def _place_origin(spec, points, exact):
    shape = np.array(spec.shape)
    lo, hi = points.min(axis=0), points.max(axis=0)
    extent = (hi - lo) / spec.spacing  # in voxels, between extreme points
    if exact:
        needed = np.round(extent).astype(int) + 1
    else:  # trilinear weights need a voxel on both sides of every point
        needed = np.ceil(extent).astype(int) + 2
    if np.any(needed > shape):
        raise ValueError(
            "The source space does not fit in the model grid: it needs "
            f"{' x '.join(map(str, needed))} voxels at "
            f"{spec.spacing * 1e3:g} mm, the grid has "
            f"{' x '.join(map(str, shape))}. Use a model with a larger grid or "
            "restrict the source space."
        )
    if exact:
        return lo - ((shape - needed) // 2) * spec.spacing
    return (lo + hi) / 2 - (shape - 1) / 2 * spec.spacing


def _nearest_weights(coords, shape):
    ijk = np.round(coords).astype(int)
    cols = np.ravel_multi_index(ijk.T, shape)
    if len(np.unique(cols)) != len(cols):
        raise ValueError("Two sources fall into the same voxel of the grid")
    rows = np.arange(len(coords))
    return sparse.coo_matrix(
        (np.ones(len(coords)), (rows, cols)), shape=(len(coords), int(np.prod(shape)))
    )


def _trilinear_weights(coords, shape):
    base = np.floor(coords).astype(int)
    base = np.clip(base, 0, np.array(shape) - 2)
    frac = coords - base
    rows, cols, vals = [], [], []
    for corner in np.ndindex(2, 2, 2):
        corner = np.array(corner)
        w = np.prod(np.where(corner, frac, 1 - frac), axis=1)
        rows.append(np.arange(len(coords)))
        cols.append(np.ravel_multi_index((base + corner).T, shape))
        vals.append(w)
    return sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(coords), int(np.prod(shape))),
    )
