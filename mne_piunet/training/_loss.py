"""The training objective: the L1 error of the refined moments."""

import torch

from .._grid import VoxelGrid
from .._model import PIUNet
from ._sampling import Batch


def loss(
    model: PIUNet,
    grid: VoxelGrid,
    batch: Batch,
    network=None,
    loss_norm: str | None = None,
) -> torch.Tensor:
    """Mean L1 error of the refined moments, each sample relative to its norm.

    The refine rule is the model's (:meth:`PIUNet.refine`). On a volume
    grid whose points own a voxel each, with each point's direction from the
    network: the loss scores the vectors the network outputs. Where the points
    are finer than the grid (a cortex), it scores what inference returns: the
    network's map finished by the data at the points (:meth:`PIUNet.finish`),
    so that the network learns the prior the finish needs.

    ``loss_norm`` (``"max"`` or ``"mass"``, see :class:`TrainConfig`) makes
    it the training objective; ``None`` divides by the largest true moment,
    what the logs call ``val_l1`` (comparable across runs).
    """
    orientation = "network" if grid.exact else "physics"
    out = model.refine(
        batch.init, grid, fit=batch.fit, network=network, orientation=orientation
    )
    error = (out - batch.target).abs().mean(dim=(1, 2))
    norm = batch.mass if loss_norm == "mass" else batch.norm
    return (error / norm).mean()


def mean_loss(
    model: PIUNet,
    grid: VoxelGrid,
    batches: list,
    network=None,
    loss_norm: str | None = None,
) -> float:
    """Sample-weighted mean of :func:`loss` over batches, as a float."""
    total = sum(
        float(loss(model, grid, b, network, loss_norm)) * len(b.init) for b in batches
    )
    return total / sum(len(b.init) for b in batches)
