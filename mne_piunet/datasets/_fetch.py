"""Pretrained weights: a registry read by pooch, a hash-checked cache."""

import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path

from mne.utils import get_config, logger, verbose

from .._io import data_dir
from .._mne_private import check_option, validate_type

URL_KEY = "MNE_PIUNET_MODELS_URL"
_REGISTRY_FILE = files("mne_piunet").joinpath("data", "models.json")
_BUNDLED_DIR = Path(str(files("mne_piunet").joinpath("data")))


def _registry():
    """Return the registry: ``{"base_url": str, "models": {name: entry}}``."""
    return json.loads(_REGISTRY_FILE.read_text())


def model_names() -> list[str]:
    """Return the names of the registered pretrained models.

    Returns
    -------
    names : list of str
        Names accepted by :func:`fetch_model` and ``model=`` arguments.
    """
    return sorted(_registry()["models"])


def _base_url(registry):
    url = get_config(URL_KEY, registry["base_url"])
    return url if url.endswith("/") else url + "/"


def _sha256(fname):
    digest = hashlib.sha256()
    with open(fname, "rb") as fid:
        for block in iter(lambda: fid.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_valid(fname, entry):
    return fname.is_file() and _sha256(fname) == entry["sha256"]


@verbose
def fetch_model(
    name: str = "default",
    *,
    path: str | os.PathLike | None = None,
    force_update: bool = False,
    download: bool = True,
    verbose: bool | str | int | None = None,
) -> Path:
    """Return the path of a pretrained model, downloading it when needed.

    Files are checked against the SHA256 in the package's registry. A download
    goes to a temporary name and is moved into the cache only once its hash
    matches, so a failed or tampered download leaves nothing behind. Models
    shipped inside the package resolve without network access.

    Parameters
    ----------
    name : str
        A registered model name (see :func:`model_names`).
    path : path-like | None
        Cache folder. ``None`` uses ``MNE_DATA/MNE-piunet/models`` (MNE's data
        folder, ``~/mne_data`` by default).
    force_update : bool
        Download again even when a valid copy exists.
    download : bool
        If False, never download: raise an error when no valid copy exists.
    %(verbose)s

    Returns
    -------
    fname : pathlib.Path
        The verified model file, ready for :func:`mne_piunet.read_model`.

    Notes
    -----
    The download address is ``base_url + file name``. Labs that mirror the
    files set ``base_url`` with the MNE config key or environment variable
    ``MNE_PIUNET_MODELS_URL``.
    """
    registry = _registry()
    validate_type(name, str, "name")
    check_option("name", name, sorted(registry["models"]))
    validate_type(path, ("path-like", None), "path")
    entry = registry["models"][name]
    cache = Path(path).expanduser() if path is not None else data_dir("models")
    fname = cache / entry["fname"]
    if not force_update:
        if _is_valid(fname, entry):
            logger.info(f"Using the cached model {name!r}: {fname}")
            return fname
        bundled = _BUNDLED_DIR / entry["fname"]
        if entry.get("bundled") and _is_valid(bundled, entry):
            logger.info(f"Using the model {name!r} shipped with mne-piunet")
            return bundled
    if not download:
        state = "is corrupt (hash mismatch)" if fname.is_file() else "is not cached"
        raise RuntimeError(
            f"Model {name!r} {state} at {fname} and download=False. Get it with "
            f"mne_piunet.datasets.fetch_model({name!r}) or `mne-piunet fetch {name}`."
        )
    return _download(name, entry, _base_url(registry), fname)


def _download(name, entry, base_url, fname):
    """Download into a scratch folder beside the cache; move in once verified."""
    import pooch

    url = base_url + entry["fname"]
    logger.info(f"Downloading model {name!r} from {url}")
    fname.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=fname.parent, prefix=".download-"))
    quiet = logger.getEffectiveLevel() > logging.INFO
    pooch.get_logger().setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        tmp = pooch.retrieve(
            url,
            known_hash=f"sha256:{entry['sha256']}",
            fname=entry["fname"],
            path=scratch,
            progressbar=not quiet,
        )
        Path(tmp).replace(fname)
    except ValueError as err:  # pooch's hash mismatch names both hashes
        raise RuntimeError(
            f"Refusing model {name!r} from {url}: its SHA256 does not match the "
            f"registry (expected {entry['sha256']}). {err}"
        ) from None
    except Exception as err:
        raise RuntimeError(
            f"Downloading model {name!r} from {url} failed: "
            f"{type(err).__name__}: {err}. Nothing was written to {fname.parent}."
        ) from err
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info(f"Verified and cached {fname}")
    return fname


def cached_models(path: str | os.PathLike | None = None) -> list[dict]:
    """Describe every registered model and whether a valid copy is at hand.

    Parameters
    ----------
    path : path-like | None
        Cache folder, as in :func:`fetch_model`.

    Returns
    -------
    rows : list of dict
        One dict per model: ``name``, ``description``, ``size``, ``bundled``
        and ``cached`` (the path of a valid local copy, or None).
    """
    cache = Path(path).expanduser() if path is not None else data_dir("models")
    rows = []
    for name, entry in sorted(_registry()["models"].items()):
        local = None
        for candidate in (cache / entry["fname"], _BUNDLED_DIR / entry["fname"]):
            if _is_valid(candidate, entry):
                local = candidate
                break
        rows.append(
            dict(
                name=name,
                description=entry["description"],
                size=entry["size"],
                bundled=bool(entry.get("bundled")),
                cached=local,
            )
        )
    return rows
