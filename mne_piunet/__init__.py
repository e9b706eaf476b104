"""3D-PIUNet EEG source imaging for MNE-Python."""

from ._grid import GridSpec, VoxelGrid
from ._inverse import (
    PIUNetOperator,
    apply_piunet,
    apply_piunet_epochs,
    apply_piunet_raw,
    make_piunet_operator,
)
from ._model import PIUNet, make_ensemble, read_model
from ._network import UNet3D, UNetConfig, UNetEnsemble
from ._physics import INIT_METHODS, make_init_kernel
from ._version import __version__

__all__ = [
    "INIT_METHODS",
    "GridSpec",
    "PIUNet",
    "PIUNetOperator",
    "UNet3D",
    "UNetConfig",
    "UNetEnsemble",
    "VoxelGrid",
    "__version__",
    "apply_piunet",
    "apply_piunet_epochs",
    "apply_piunet_raw",
    "make_ensemble",
    "make_init_kernel",
    "make_piunet_operator",
    "read_model",
]
