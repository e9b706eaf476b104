"""3D-PIUNet EEG source imaging for MNE-Python.

The public names are imported on first use (PEP 562), so that ``import
mne_piunet`` and the command line's ``--help`` do not load torch and MNE.
"""

import importlib

from ._version import __version__ as __version__

_PUBLIC = {
    "GridSpec": "._grid",
    "VoxelGrid": "._grid",
    "PIUNetOperator": "._operator",
    "apply_piunet": "._inverse",
    "apply_piunet_epochs": "._inverse",
    "apply_piunet_raw": "._inverse",
    "make_piunet_operator": "._operator",
    "MapUncertainty": "._uncertainty",
    "PIUNet": "._model",
    "make_ensemble": "._model",
    "read_model": "._model",
    "UNet3D": "._network",
    "UNetConfig": "._network",
    "UNetEnsemble": "._network",
}

__all__ = sorted([*_PUBLIC, "__version__"])


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value  # look it up once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
