"""Where the offline testing data (MNE sample subject pieces) live."""

import os
from pathlib import Path

from mne.utils import get_config

CONFIG_KEY = "MNE_PIUNET_TESTING_DATA"


def testing_data_path(default: str | os.PathLike | None = None) -> Path | None:
    """Return the folder of the offline testing data, or None when absent.

    The folder holds ``sample/`` (the MNE sample subject's evoked data, noise
    covariance, trans, BEM and MRI) and ``fsaverage/``. It is found through
    the ``MNE_PIUNET_TESTING_DATA`` environment variable or MNE config key.

    Parameters
    ----------
    default : path-like | None
        Folder to use when the setting is absent.

    Returns
    -------
    path : pathlib.Path | None
        The folder, or None when it does not exist.
    """
    path = get_config(CONFIG_KEY, default)
    if path is None or not (Path(path) / "sample").is_dir():
        return None
    return Path(path)
