"""Small file helpers shared by the model, template and training code."""

import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from mne.utils import get_config, warn


@contextmanager
def atomic_path(fname, suffix=""):
    """Yield a temporary path beside ``fname``; rename it to ``fname`` on success.

    A failure (or an interrupt) while writing leaves no partial file behind.
    ``suffix`` ends the temporary name, for writers that check file endings.
    """
    fname = Path(fname)
    fname.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=fname.parent, prefix=f".{fname.name}.", suffix=suffix
    )
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes files private; caches are shareable
        os.replace(tmp, fname)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def data_dir(*parts):
    """Return ``MNE_DATA/MNE-piunet/<parts>`` (MNE's data folder, as for datasets)."""
    root = Path(get_config("MNE_DATA", "~/mne_data")).expanduser()
    return root.joinpath("MNE-piunet", *parts)


def read_cached(fname, reader):
    """Read a cache entry with an MNE reader; None when absent or corrupt.

    A corrupt entry is deleted (and rebuilt by the caller), never trusted.
    """
    if not fname.is_file():
        return None
    try:
        with warnings.catch_warnings():  # MNE warns about bad tags before raising
            warnings.simplefilter("ignore")
            return reader(fname, verbose=False)
    except Exception as err:
        warn(f"Ignoring the corrupt cache entry {fname} ({err}); rebuilding it")
        fname.unlink(missing_ok=True)
        return None


def write_cached(fname, obj, writer, reader):
    """Write a cache entry with an MNE writer, atomically; return it as read back.

    FIF stores some arrays in float32: the call that fills the cache gives
    what every later call reads from it.
    """
    with atomic_path(fname, suffix=fname.name) as tmp:
        writer(tmp, obj, overwrite=True, verbose=False)
    return reader(fname, verbose=False)
