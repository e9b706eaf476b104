"""Fine-tuning a trained model on another head model, within a time budget."""

import dataclasses

import mne
import numpy as np
import torch
from mne.utils import logger, verbose

from .._docs import fill_doc
from .._mne_private import validate_type
from .._model import (
    ENSEMBLE_SHARED,
    PIUNet,
    check_model,
    ensemble_with_info,
    split_ensemble,
)
from ._config import TrainConfig
from ._loop import train_model


@verbose
@fill_doc
def finetune_model(
    forward: mne.Forward | list[mne.Forward],
    model: PIUNet | str | None = None,
    *,
    time_limit: float | None = 900.0,
    n_steps: int | None = None,
    members: list[int] | None = None,
    lr: float = 1e-4,
    n_covariances: int = 8,
    seed: int = 7,
    noise_cov: mne.Covariance | None = None,
    device: str | torch.device | None = None,
    verbose: bool | str | int | None = None,
) -> PIUNet:
    """Fine-tune a trained model on another head model, within a time budget.

    The per-subject workflow: each network of ``model`` (each member of an
    ensemble such as the default, the time split evenly between them) goes on
    training from its weights on sources simulated through ``forward``, with
    the configuration it was trained with, shortened for a run of minutes
    (:func:`finetune_config`). An ensemble comes back as an ensemble with the
    same weights.

    Parameters
    ----------
    forward : instance of Forward | list of Forward
        Free-orientation M/EEG forward solution of the subject (a list: the
        same sensors in several head positions, see :func:`train_model`); its sources
        must fit the model's grid.
    model : PIUNet | path-like | str | None
        The model to fine-tune (``None``: the default).
    time_limit : float | None
        Seconds of training in all (the setup, seconds per network, comes on
        top); ``None``: no limit, ``n_steps`` ends the run.
    n_steps : int | None
        Most training steps of each network; ``None``: as many as
        ``time_limit`` allows.
    members : list of int | None
        Which networks of an ensemble to fine-tune, by position (``None``:
        all); the others are kept as they are and the time is split between
        the fine-tuned ones. For the default, ``members=[1]`` fine-tunes the
        large network only (the documentation's recommendation: see the
        benchmarks page).
    lr : float
        AdamW learning rate.
    n_covariances : int
        Noise covariances drawn from, for networks trained with coloured
        noise (fewer than the original runs': each takes a fraction of a
        second to set up).
    seed : int
        Seed of the simulated samples.
    %(noise_cov)s
    device : str | torch.device | None
        Where to train (``None``: CUDA when available).
    %(verbose)s

    Returns
    -------
    model : PIUNet
        The fine-tuned model; each network's card records the run and, under
        ``"pretrained"``, the card it started from.

    See Also
    --------
    train_model : Train with a configuration of your own.
    """
    model = check_model(model)
    _check_budget(time_limit, n_steps)
    networks = split_ensemble(model)
    chosen = _check_members(members, len(networks))
    share = None if time_limit is None else time_limit / len(chosen)
    for k in chosen:
        config = finetune_config(
            networks[k],
            n_steps=10**9 if n_steps is None else n_steps,  # else time ends it
            lr=lr,
            n_covariances=n_covariances,
            seed=seed,
        )
        logger.info(f"Fine-tuning network {k} ({len(networks)} in the model)")
        networks[k] = train_model(
            forward,
            config,
            noise_cov=noise_cov,
            pretrained=networks[k],
            device=device,
            time_limit=share,
        )
    if len(networks) == 1:
        return networks[0]
    # the fine-tuned networks' metadata (head model, for the montage check)
    shared = {key: networks[chosen[0]].info[key] for key in ENSEMBLE_SHARED}
    return ensemble_with_info(networks, model.network.weights, shared)


def _check_members(members, n_networks):
    """Return the positions of the networks to fine-tune, checked."""
    if members is None:
        return list(range(n_networks))
    validate_type(members, (list, tuple), "members")
    chosen = sorted(set(members))
    if not chosen or any(not _is_position(k, n_networks) for k in chosen):
        raise ValueError(
            f"members must be positions of the model's {n_networks} network(s), "
            f"0 to {n_networks - 1}, got {members}"
        )
    return chosen


def _is_position(k, n_networks):
    """Whether ``k`` is an integer (not a bool) from 0 to ``n_networks - 1``."""
    is_int = isinstance(k, int | np.integer) and not isinstance(k, bool)
    return is_int and 0 <= k < n_networks


def _check_budget(time_limit, n_steps):
    """Refuse a fine-tuning run without a positive time or step budget."""
    validate_type(time_limit, ("numeric", None), "time_limit")
    validate_type(n_steps, ("int-like", None), "n_steps")
    if time_limit is None and n_steps is None:
        raise ValueError("time_limit and n_steps cannot both be None")
    if time_limit is not None and not time_limit > 0:  # also refuses NaN
        raise ValueError(f"time_limit must be positive seconds, got {time_limit}")
    if n_steps is not None and n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")


def finetune_config(
    model: PIUNet,
    *,
    n_steps: int,
    lr: float = 1e-4,
    n_covariances: int = 8,
    seed: int = 7,
) -> TrainConfig:
    """Return the configuration :func:`finetune_model` fine-tunes a network with.

    The configuration the network was trained with (its model card's),
    shortened for a run of minutes: learning rate ``lr`` (halved on a
    validation plateau), ``n_covariances``
    noise covariances, a validation set of 64 samples checked every 200
    steps, on the model's grid. For runs that :func:`finetune_model` does not
    cover, e.g. with checkpoints: pass it to :func:`train_model` with
    ``pretrained=model``.

    Parameters
    ----------
    model : PIUNet
        A model with one network (one member of an ensemble).
    n_steps : int
        Most training steps.
    lr : float
        AdamW learning rate.
    n_covariances : int
        Noise covariances drawn from, for networks trained with coloured
        noise.
    seed : int
        Seed of the simulated samples.

    Returns
    -------
    config : TrainConfig
        The fine-tuning configuration.
    """
    saved = model.info.get("training", {}).get("config")
    if saved is None:
        raise ValueError(
            "The model card holds no training configuration to fine-tune with; "
            "use train_model with pretrained=model and a TrainConfig"
        )
    config = TrainConfig.from_dict(saved)
    noise = config.noise
    if noise is not None:
        noise = dataclasses.replace(noise, n_covariances=n_covariances)
    return dataclasses.replace(
        config,
        grid_shape=model.grid.shape,
        spacing=model.grid.spacing,
        noise=noise,
        lr=lr,
        seed=seed,
        n_steps=int(n_steps),
        val_samples=64,
        val_every=min(200, int(n_steps)),
    )
