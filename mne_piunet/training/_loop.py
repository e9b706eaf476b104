"""train_model: fresh simulated samples every step, L1 loss, AdamW, resumable."""

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import mne
import torch
from mne.utils import logger, verbose

from .._device import autocast_network, get_device, use_bf16
from .._docs import fill_doc
from .._io import atomic_path
from .._mne_private import source_space_subject, validate_type
from .._model import PIUNet, check_model
from .._network import UNet3D
from .._sensors import channel_types, electrode_directions
from ._config import TrainConfig, with_defaults
from ._loss import loss, mean_loss
from ._sampling import Problem, forward_pool

_CKPT = "checkpoint.pt"
_LOG = "train_log.jsonl"


@verbose
@fill_doc
def train_model(
    forward: mne.Forward | list[mne.Forward],
    config: TrainConfig | None = None,
    *,
    noise_cov: mne.Covariance | None = None,
    pretrained: PIUNet | str | None = None,
    device: str | torch.device | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    time_limit: float | None = None,
    verbose: bool | str | int | None = None,
) -> PIUNet:
    """Train a 3D-PIUNet model on simulated data for a forward model.

    Every step draws fresh samples (:class:`mne_piunet.simulation.SourceSimulator`),
    computes the physics init and minimises the L1 distance between the
    network's output, read back at the sources, and the true source field
    (each sample relative to its size) with AdamW. The learning rate is
    halved when the loss on a fixed, seeded validation set stops improving;
    training stops early when it stays flat.

    Parameters
    ----------
    forward : instance of Forward | list of Forward
        Free-orientation forward solution to train for: EEG, MEG or both
        (the model's card records its channel types; white sensor noise is
        drawn at each type's level of :func:`mne.make_ad_hoc_cov`). A list:
        one head and sensor array in several positions (for MEG, the
        device-to-head transform varied), sharing channels and source
        points; each batch is simulated through one of them, and the noise
        covariances are spread over them.
    config : TrainConfig | None
        Training configuration; ``None`` uses the defaults.
    %(noise_cov)s
    pretrained : PIUNet | path-like | None
        Start from this model's weights (fine-tuning) instead of a random
        initialisation. Its network configuration must equal
        ``config.network`` and its grid the training grid. A checkpoint
        resumed with ``resume=True`` takes precedence.
    device : str | torch.device | None
        Where to train (``None``: CUDA when available).
    checkpoint_dir : path-like | None
        Folder for ``checkpoint.pt`` (overwritten at every validation) and
        ``train_log.jsonl``.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` exactly where it
        stopped (model, optimiser, scheduler and random state; on another
        device type the random streams are reseeded).
    time_limit : float | None
        Stop (after a validation and checkpoint) once this many seconds have
        passed in this call; resume later with ``resume=True``. Ctrl-C
        stops the run too, without the step it interrupts: the best model so
        far is returned, and ``resume=True`` goes on from the last
        checkpoint.
    %(verbose)s

    Returns
    -------
    model : PIUNet
        The model with the best validation loss, its training summary in
        ``model.info["training"]``.
    """
    config = TrainConfig() if config is None else config
    validate_type(config, TrainConfig, "config")
    forwards = forward_pool(forward)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    device = get_device(device)
    torch.manual_seed(config.seed)
    problem = Problem(forwards, config, noise_cov, device)
    if pretrained is not None:
        pretrained = _load_pretrained(pretrained, config, problem.spec)
    run = _start_run(problem, config, pretrained)
    if checkpoint_dir is not None:
        run.ckpt = Path(checkpoint_dir) / _CKPT
    if resume and run.ckpt.is_file():
        _load_checkpoint(run, run.ckpt)
    logger.info(
        f"Training {sum(p.numel() for p in run.network.parameters()) / 1e6:.2f} M "
        f"parameters on grid {problem.spec.shape} ({device}); validation L1 of "
        f"the {config.init} init: {run.init_loss:.4f}"
    )
    deadline = None if time_limit is None else time.time() + float(time_limit)
    _train_loop(run, deadline)
    network = run.network
    if run.state["best_state"] is not None:
        network.load_state_dict(run.state["best_state"])
    info = dict(
        init=config.init,
        lambda2=config.lambda2,
        head_model=_describe_forward(forwards),
        training=_training_card(run, _hardware(device)),
    )
    if pretrained is not None:
        info["training"]["pretrained"] = pretrained.info.get("training", {})
    return PIUNet(network.cpu().eval(), problem.spec, info)


@dataclass
class _Run:
    """What a training run carries from step to step."""

    config: TrainConfig
    problem: Problem
    network: torch.nn.Module  # the bare network: checkpoints and validation
    step_model: callable  # what a step calls: the network, maybe under autocast
    model: PIUNet  # the network with its grid: the refine rule
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.ReduceLROnPlateau
    gen: torch.Generator
    val_batches: list  # of Batch: the fixed, seeded validation set
    init_loss: float
    ckpt: Path | None = None  # None: no checkpoints
    state: dict = field(
        default_factory=lambda: dict(
            step=0,
            best=float("inf"),
            bad=0,
            samples=0,
            wall=0.0,
            best_state=None,
            history=[],  # [step, validation L1] of every validation
        )
    )


def _start_run(problem, config, pretrained):
    """Network, optimiser, scheduler, random state and the validation set."""
    device = problem.device
    network = UNet3D(config.network).to(device)
    if pretrained is not None:
        network.load_state_dict(pretrained.network.state_dict())
    step_model = autocast_network(network, device, use_bf16(config.precision, device))
    opt = torch.optim.AdamW(
        network.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=config.patience
    )
    val_gen = torch.Generator(device=device).manual_seed(config.seed + 10_000)
    sizes = [min(32, config.val_samples - k) for k in range(0, config.val_samples, 32)]
    val_batches = [problem.make_batch(n, val_gen) for n in sizes]
    model = PIUNet(network, problem.spec)
    with torch.no_grad():  # the init alone: what the network must beat
        init_loss = mean_loss(model, problem.grid, val_batches, torch.nn.Identity())
    gen = torch.Generator(device=device).manual_seed(config.seed)
    run = _Run(
        config,
        problem,
        network,
        step_model,
        model,
        opt,
        sched,
        gen,
        val_batches,
        init_loss,
    )
    # [first step, device type] of each part of the run; the last is current
    run.state["devices"] = [[0, device.type]]
    return run


def _training_card(run, hardware):
    state = run.state
    return dict(
        config=run.config.to_dict(),
        steps=state["step"],
        samples_seen=state["samples"],
        wall_time_s=round(state["wall"], 1),
        hardware=hardware,
        val_loss=state["best"],  # the objective (loss_norm)
        val_l1=state.get("best_l1", state["best"]),
        val_l1_init=run.init_loss,
        # an all-zero map: the floor any useful model must beat (sparse truth)
        val_l1_zero=mean_loss(
            run.model, run.problem.grid, run.val_batches, lambda v: 0 * v
        ),
        log=log_summary(state["history"]),
        devices=state["devices"],
        stopped=state["stopped"],  # n_steps, early stop, time limit, interrupted
    )


def log_summary(history: list, n_points: int = 12) -> list:
    """Thin a run's ``[step, validation L1]`` history to about ``n_points`` rows.

    Parameters
    ----------
    history : list of [int, float]
        Every validation of the run.
    n_points : int
        How many rows to keep (first and last included).

    Returns
    -------
    log : list of [int, float]
        The kept rows, L1 rounded to 4 decimals: the model card's learning
        curve.
    """
    if len(history) <= n_points:
        keep = range(len(history))
    else:
        keep = sorted(
            {round(k * (len(history) - 1) / (n_points - 1)) for k in range(n_points)}
        )
    return [[int(history[k][0]), round(float(history[k][1]), 4)] for k in keep]


def _load_pretrained(pretrained, config, spec):
    """Read a model to fine-tune and check that it fits ``config`` and ``spec``."""
    model = check_model(pretrained)
    if not isinstance(model.network, UNet3D):
        raise ValueError(
            "train_model fine-tunes a model with one UNet3D; this one's network "
            f"is a {type(model.network).__name__}: fine-tune it with "
            "mne_piunet.training.finetune_model (each member of an ensemble with "
            "its own recipe)"
        )
    if model.config != config.network:
        raise ValueError(
            f"The pretrained network ({model.config}) differs from "
            f"config.network ({config.network})"
        )
    if model.grid != spec:
        raise ValueError(
            f"The pretrained grid {model.grid} differs from the training grid {spec}"
        )
    return model


def _train_loop(run, deadline):
    """Train until ``n_steps``, an early stop, the deadline or Ctrl-C.

    Ctrl-C stops the run as the time limit does, without the last partial
    step: the best weights so far are returned and ``resume=True`` goes on
    from the last checkpoint.
    """
    from tqdm.auto import tqdm

    config, state = run.config, run.state
    bar = tqdm(  # a time-limited run shows the time left, not a step count's ETA
        total=None if deadline is not None else config.n_steps,
        initial=state["step"],
        desc="training",
        disable=logger.level > 20,
    )
    t0 = time.time()
    state["stopped"] = "n_steps"
    try:
        while state["step"] < config.n_steps:
            _train_step(run)
            bar.update(1)
            bar.set_postfix(**_progress(run, deadline))
            if state["step"] % config.val_every and state["step"] != config.n_steps:
                continue
            state["wall"] += time.time() - t0
            t0 = time.time()
            if _validate(run):
                logger.info(f"Early stop at step {state['step']}")
                state["stopped"] = "early stop"
                break
            if deadline is not None and time.time() > deadline:
                logger.info(f"Time limit reached at step {state['step']}")
                state["stopped"] = "time limit"
                break
    except KeyboardInterrupt:
        state["stopped"] = "interrupted"
        logger.info(
            f"Interrupted at step {state['step']}: returning the best weights so "
            "far; resume=True goes on from the last checkpoint"
        )
    finally:
        bar.close()


def _train_step(run):
    """Take one optimisation step on a fresh batch."""
    config, state = run.config, run.state
    run.network.train()
    batch = run.problem.make_batch(config.batch_size, run.gen)
    value = loss(run.model, run.problem.grid, batch, run.step_model, config.loss_norm)
    run.opt.zero_grad(set_to_none=True)
    value.backward()
    run.opt.step()
    state["step"] += 1
    state["samples"] += config.batch_size
    running = state.get("running")
    running = value.item() if running is None else 0.98 * running + 0.02 * value.item()
    state["running"] = running


def _progress(run, deadline):
    """Return the progress bar's running loss, learning rate and time left."""
    lr = run.opt.param_groups[0]["lr"]
    postfix = dict(loss=f"{run.state['running']:.4f}", lr=f"{lr:.1e}")
    if deadline is not None:
        postfix["left"] = f"{max(0, deadline - time.time()):.0f} s"
    return postfix


def _validate(run):
    """Score the validation set; step the scheduler; keep the best; checkpoint.

    Returns whether training should stop early.
    """
    state, config = run.state, run.config
    run.network.eval()
    grid = run.problem.grid
    with torch.no_grad():
        val_l1 = mean_loss(run.model, grid, run.val_batches)
        val = val_l1  # the training objective: what schedules and selects
        if config.loss_norm != "max":
            val = mean_loss(run.model, grid, run.val_batches, None, config.loss_norm)
    run.sched.step(val)
    state.setdefault("history", []).append([state["step"], val_l1])
    if val < state["best"]:
        state["best"], state["best_l1"], state["bad"] = val, val_l1, 0
        state["best_state"] = {
            k: v.detach().cpu().clone() for k, v in run.network.state_dict().items()
        }
    else:
        state["bad"] += 1
    record = dict(
        step=state["step"],
        samples=state["samples"],
        train_loss=state["running"],
        val_loss=val,
        val_l1=val_l1,
        val_l1_init=run.init_loss,
        lr=run.opt.param_groups[0]["lr"],
        wall_s=round(state["wall"], 1),
    )
    logger.info(json.dumps(record))
    if run.ckpt is not None:
        _save_checkpoint(run)
        with open(run.ckpt.parent / _LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
    return state["bad"] >= 3 * config.patience


def _save_checkpoint(run):
    run.ckpt.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(
        network=run.network.state_dict(),
        optimizer=run.opt.state_dict(),
        scheduler=run.sched.state_dict(),
        rng=run.gen.get_state(),
        state={k: v for k, v in run.state.items() if k != "best_state"},
        best_state=run.state["best_state"],
        config=json.dumps(run.config.to_dict()),
    )
    with atomic_path(run.ckpt) as tmp:
        torch.save(payload, tmp)


def _load_checkpoint(run, fname):
    # weights_only: a checkpoint file cannot run code when it is read
    payload = torch.load(fname, map_location="cpu", weights_only=True)
    saved = with_defaults(json.loads(payload["config"]))
    if saved != run.config.to_dict():
        raise ValueError(f"The checkpoint {fname} was made with another TrainConfig")
    run.network.load_state_dict(payload["network"])
    run.opt.load_state_dict(payload["optimizer"])
    run.sched.load_state_dict(payload["scheduler"])
    run.state = dict(payload["state"], best_state=payload["best_state"])
    device_type = run.gen.device.type
    if run.state["devices"][-1][1] == device_type:
        run.gen.set_state(payload["rng"])
    else:
        _restart_on_new_device(run, device_type)
    logger.info(f"Resumed from step {run.state['step']} ({fname})")


def _restart_on_new_device(run, device_type):
    """Go on from a checkpoint written on another device type (CPU <-> CUDA).

    Random streams differ between device types: the training draws are
    reseeded and, as the validation set is drawn anew, its earlier scores
    are not comparable: the best score and the plateau counters restart, and
    the next validation's weights become the best.
    """
    state = run.state
    run.gen.manual_seed(run.config.seed + 7919 * state["step"])
    # the card's learning curve changes validation set at these steps
    state["devices"].append([state["step"], device_type])
    state.update(best=float("inf"), bad=0)
    run.sched.best, run.sched.num_bad_epochs = float("inf"), 0
    logger.info(
        f"Checkpoint written on another device type: now on {device_type}, "
        "reseeded, validation scores restart"
    )


def _describe_forward(forwards):
    forward = forwards[0]
    return dict(
        subject=source_space_subject(forward["src"]),
        n_channels=int(forward["nchan"]),
        n_sources=int(forward["nsource"]),
        src_kind=forward["src"].kind,
        ch_names=list(forward["info"]["ch_names"]),
        ch_types=channel_types(forward["info"]),
        # electrode directions: the montage check of make_piunet_operator
        ch_dirs=electrode_directions(forward["info"]).round(3).tolist(),
        n_forwards=len(forwards),  # head positions trained on
    )


def _hardware(device):
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        name = f"{cpu} CPU, {torch.get_num_threads()} threads"
    return f"1 x {name}"
