import json
from dataclasses import replace

import mne
import numpy as np
import pytest
import torch

from mne_piunet import (
    GridSpec,
    PIUNet,
    UNet3D,
    UNetConfig,
    UNetEnsemble,
    apply_piunet,
    make_ensemble,
)
from mne_piunet._inverse import INDEPENDENT_SAMPLES
from mne_piunet.simulation import NoiseConfig, SimulationConfig
from mne_piunet.training import TrainConfig, finetune_model, train_model

CONFIG = TrainConfig(
    network=UNetConfig(base_channels=4, num_res_blocks=1, num_groups=2, num_heads=1),
    spacing=0.010,
    simulation=SimulationConfig(n_sources=(1, 3)),
    batch_size=2,
    n_steps=4,
    val_samples=4,
    val_every=2,
    seed=1,
)


def _log(path):
    return [json.loads(line) for line in (path / "train_log.jsonl").open()]


def test_train_and_resume(sample_vol_forward, sample_evoked, tmp_path):
    torch.set_num_threads(1)
    full = train_model(
        sample_vol_forward, CONFIG, device="cpu", checkpoint_dir=tmp_path / "a"
    )
    assert isinstance(full, PIUNet)
    assert full.info["training"]["steps"] == 4
    assert full.info["training"]["samples_seen"] == 8
    assert full.info["head_model"]["n_channels"] == 60
    assert full.info["training"]["val_l1_init"] > 0
    assert full.info["training"]["devices"] == [[0, "cpu"]]
    # interrupted after the first validation, then resumed: the same curve
    part = train_model(
        sample_vol_forward,
        CONFIG,
        device="cpu",
        checkpoint_dir=tmp_path / "b",
        time_limit=0,
    )
    assert part.info["training"]["steps"] == 2
    train_model(
        sample_vol_forward,
        CONFIG,
        device="cpu",
        checkpoint_dir=tmp_path / "b",
        resume=True,
    )
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in b] == [2, 4]
    for ra, rb in zip(a, b, strict=True):
        assert rb["val_l1"] == pytest.approx(ra["val_l1"], rel=1e-5)
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-5)
    # the trained model runs through apply_piunet
    stc = apply_piunet(sample_evoked.copy().crop(0.1, 0.12), sample_vol_forward, full)
    assert stc.data.shape[0] == sample_vol_forward["nsource"]
    # resuming with another configuration is refused
    other = replace(CONFIG, lr=1e-2)
    with pytest.raises(ValueError, match="another TrainConfig"):
        train_model(
            sample_vol_forward, other, checkpoint_dir=tmp_path / "b", resume=True
        )
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_dir"):
        train_model(sample_vol_forward, CONFIG, resume=True)


def test_ctrl_c_stops_like_the_time_limit(sample_vol_forward, tmp_path, monkeypatch):
    """Ctrl-C in step 3 returns the step-2 model; a resume gives the full run."""
    torch.set_num_threads(1)
    train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path / "a")
    step, calls = torch.optim.AdamW.step, []

    def interrupted_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(torch.optim.AdamW, "step", interrupted_step)
        part = train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path / "b")
    assert part.info["training"]["steps"] == 2
    assert [r["step"] for r in _log(tmp_path / "b")] == [2]
    train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path / "b", resume=True)
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in b] == [2, 4]
    for ra, rb in zip(a, b, strict=True):
        assert rb["val_l1"] == pytest.approx(ra["val_l1"], rel=1e-5)


@pytest.mark.parametrize("record", ["devices", "device_type"])
def test_resume_checkpoint_from_other_device(sample_vol_forward, tmp_path, record):
    torch.set_num_threads(1)
    train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path, time_limit=0)
    fname = tmp_path / "checkpoint.pt"
    payload = torch.load(fname, weights_only=True)
    assert payload["state"]["devices"] == [[0, "cpu"]]
    # as a CUDA run writes it: another random-state size, scores on other draws
    payload["state"].update(best=-1.0, best_l1=-1.0)
    if record == "device_type":  # how older checkpoints recorded the device
        del payload["state"]["devices"]
        payload["state"]["device_type"] = "cuda"
    else:
        payload["state"]["devices"] = [[0, "cuda"]]
    payload["rng"] = torch.zeros(16, dtype=torch.uint8)
    torch.save(payload, fname)
    model = train_model(
        sample_vol_forward, CONFIG, device="cpu", checkpoint_dir=tmp_path, resume=True
    )
    last = _log(tmp_path)[-1]
    assert last["step"] == 4
    # the foreign best score was dropped: the CPU validation is the best
    assert model.info["training"]["val_l1"] == pytest.approx(last["val_l1"])
    state = torch.load(fname, weights_only=True)["state"]
    assert state["devices"] == [[0, "cuda"], [2, "cpu"]]
    assert "device_type" not in state
    assert model.info["training"]["devices"] == [[0, "cuda"], [2, "cpu"]]


def test_resume_checkpoint_of_older_version(sample_vol_forward, tmp_path):
    """Settings added since a checkpoint was written take their defaults."""
    from mne_piunet.training import _with_defaults

    config = replace(
        CONFIG,
        noise=NoiseConfig(n_covariances=2),
        focus=SimulationConfig(n_sources=(1, 1)),
        focus_prob=0.5,
    )
    saved = config.to_dict()
    del saved["loss_norm"], saved["noise"]["unwhitened_prob"]
    del saved["focus"]["noise_only_prob"]
    assert _with_defaults(saved) == config.to_dict()
    saved["noise"]["white_prob"] = 0.9  # a setting that differs is no default
    assert _with_defaults(saved) != config.to_dict()
    # the same through a checkpoint
    torch.set_num_threads(1)
    train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path, time_limit=0)
    fname = tmp_path / "checkpoint.pt"
    payload = torch.load(fname, weights_only=True)
    old = json.loads(payload["config"])
    del old["loss_norm"], old["simulation"]["noise_only_prob"]
    payload["config"] = json.dumps(old)
    torch.save(payload, fname)
    train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path, resume=True)
    assert _log(tmp_path)[-1]["step"] == 4
    old["simulation"]["n_sources"] = [1, 5]
    payload["config"] = json.dumps(old)
    torch.save(payload, fname)
    with pytest.raises(ValueError, match="made with another TrainConfig"):
        train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path, resume=True)


_DDP_SCRIPT = """
import hashlib, json, sys
import mne, torch
from mne_piunet.training import train_model
sys.path.insert(0, {tests!r})
from test_training import CONFIG

torch.set_num_threads(1)
fwd = mne.read_forward_solution({fwd!r}, verbose=False)
model = train_model(fwd, CONFIG, device="cpu", checkpoint_dir={ckpt!r})
rank = torch.distributed.get_rank()
digest = hashlib.sha256()
for value in model.network.state_dict().values():
    digest.update(value.numpy().tobytes())
with open({out!r} + f"/rank{{rank}}.json", "w") as fid:
    json.dump(dict(digest=digest.hexdigest(), info=model.info["training"]), fid)
"""


def test_distributed_gloo_two_processes(sample_vol_forward, tmp_path):
    """torchrun with 2 CPU processes (gloo): synchronised weights, one log."""
    import subprocess
    import sys
    from pathlib import Path

    import mne

    fwd_fname = tmp_path / "test-fwd.fif"
    mne.write_forward_solution(fwd_fname, sample_vol_forward)
    script = tmp_path / "ddp.py"
    script.write_text(
        _DDP_SCRIPT.format(
            tests=str(Path(__file__).parent),
            fwd=str(fwd_fname),
            ckpt=str(tmp_path / "ckpt"),
            out=str(tmp_path),
        )
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_port", "29517", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["digest"] == ranks[1]["digest"]  # DDP kept them in sync
    info = ranks[0]["info"]
    assert info["samples_seen"] == 2 * CONFIG.n_steps * CONFIG.batch_size
    assert info["hardware"].startswith("2 x")
    log = _log(tmp_path / "ckpt")
    assert [row["step"] for row in log] == [2, 4]  # rank 0 alone wrote the log


def test_random_montages_and_lambda2(sample_vol_forward):
    """Each pooled kernel is MNE's init for its own electrode subset."""
    from mne_piunet._eeg import forward_eeg_info
    from mne_piunet._physics import make_init_kernel
    from mne_piunet.training import _Problem

    config = replace(CONFIG, n_channels=(20, 40), lambda2_range=(0.2, 0.2), n_kernels=3)
    problem = _Problem(sample_vol_forward, config, None, torch.device("cpu"))
    names = sample_vol_forward["info"]["ch_names"]
    assert len(problem.kernel_pool) == 3
    for setup in problem.kernel_pool:
        assert 20 <= len(setup.rows) <= 40
        n_rows = len(setup.rows)
        assert setup.kernel.kernel.shape == (3 * sample_vol_forward["nsource"], n_rows)
        assert setup.gain.shape == (n_rows, 3 * sample_vol_forward["nsource"])
    rows, kernel = problem.kernel_pool[-1].rows, problem.kernel_pool[-1].kernel
    sub = mne.pick_channels_forward(
        sample_vol_forward, [names[i] for i in rows], ordered=True, verbose=False
    )
    ref = make_init_kernel(forward_eeg_info(sub), sub, lambda2=0.2, method="eLORETA")
    np.testing.assert_allclose(
        kernel.kernel, ref.kernel, rtol=1e-5, atol=1e-6 * np.abs(ref.kernel).max()
    )
    # lambda2 alone drawn: all electrodes, kernels that differ
    config = replace(CONFIG, lambda2_range=(0.01, 1.0), n_kernels=2)
    a, b = _Problem(sample_vol_forward, config, None, torch.device("cpu")).kernel_pool
    assert len(a.rows) == len(b.rows) == len(names)
    assert not np.allclose(a.kernel.kernel, b.kernel.kernel, rtol=1e-2)
    batch = problem.make_batch(2, torch.Generator().manual_seed(0), montage=True)
    assert (
        batch.init.shape == batch.target.shape == (2, sample_vol_forward["nsource"], 3)
    )
    assert torch.isfinite(batch.init).all()
    with pytest.raises(ValueError, match="up to 99 electrodes, the forward has 60"):
        _Problem(
            sample_vol_forward,
            replace(config, n_channels=(20, 99)),
            None,
            torch.device("cpu"),
        )
    with pytest.raises(ValueError, match="lambda2_range must be positive"):
        TrainConfig(lambda2_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="n_channels must satisfy"):
        TrainConfig(n_channels=(40, 20))


def test_fine_tune_from_pretrained(sample_vol_forward):
    torch.set_num_threads(1)
    base = train_model(sample_vol_forward, CONFIG, device="cpu", verbose=False)
    # lr 0: AdamW leaves the weights alone, so the start must be the pretrained
    frozen = replace(CONFIG, lr=0.0, n_channels=(30, 60))
    tuned = train_model(
        sample_vol_forward, frozen, pretrained=base, device="cpu", verbose=False
    )
    tuned_state = tuned.network.state_dict()
    for name, weights in base.network.state_dict().items():
        torch.testing.assert_close(tuned_state[name], weights, msg=name)
    assert tuned.info["training"]["pretrained"]["steps"] == CONFIG.n_steps
    wider = replace(CONFIG, network=UNetConfig(base_channels=8, num_groups=2))
    with pytest.raises(ValueError, match="pretrained network"):
        train_model(sample_vol_forward, wider, pretrained=base, device="cpu")
    pair = PIUNet(UNetEnsemble([base.network, base.network]), base.grid, base.info)
    with pytest.raises(ValueError, match="network is a UNetEnsemble"):
        train_model(sample_vol_forward, CONFIG, pretrained=pair, device="cpu")


def test_finetune_ensemble_member_by_member(sample_vol_forward):
    """Each member resumes its own recipe; the ensemble comes back whole."""
    torch.set_num_threads(1)
    first = train_model(sample_vol_forward, CONFIG, device="cpu", verbose=False)
    coloured = replace(
        CONFIG, noise=NoiseConfig(n_covariances=3), seed=2, lr_schedule="cosine"
    )
    second = train_model(sample_vol_forward, coloured, device="cpu", verbose=False)
    pair = make_ensemble([first, second], weights=(1.0, 3.0))
    # lr 0: the fine-tuned members must be the originals, in their order
    tuned = finetune_model(
        sample_vol_forward,
        pair,
        time_limit=None,
        n_steps=2,
        lr=0.0,
        n_covariances=2,
        device="cpu",
        verbose=False,
    )
    assert isinstance(tuned.network, UNetEnsemble)
    assert tuned.network.weights == (0.25, 0.75)
    for member, original in zip(tuned.network.members, (first, second), strict=True):
        for name, weights in original.network.state_dict().items():
            torch.testing.assert_close(member.state_dict()[name], weights, msg=name)
    cards = [m["training"] for m in tuned.info["ensemble"]["members"]]
    assert [c["steps"] for c in cards] == [2, 2]
    assert [c["pretrained"]["steps"] for c in cards] == [CONFIG.n_steps] * 2
    assert cards[0]["config"]["noise"] is None  # each member's own recipe
    assert cards[1]["config"]["noise"]["n_covariances"] == 2
    assert cards[1]["config"]["seed"] == 7 and cards[1]["config"]["lr"] == 0.0
    # a run of minutes keeps its rate whatever schedule the recipe ended with
    assert cards[1]["config"]["lr_schedule"] == "plateau"
    single = finetune_model(
        sample_vol_forward, first, time_limit=None, n_steps=1, verbose=False
    )
    assert single.config == first.config and single.info["training"]["steps"] == 1
    # members=[1]: the first network is kept as it was, card and weights
    half = finetune_model(
        sample_vol_forward, pair, time_limit=None, n_steps=1, members=[1], verbose=False
    )
    kept, tuned_card = half.info["ensemble"]["members"]
    assert kept["training"] == first.info["training"]
    assert tuned_card["training"]["steps"] == 1
    for name, weights in first.network.state_dict().items():
        kept_weights = half.network.members[0].state_dict()[name]
        torch.testing.assert_close(kept_weights, weights, msg=name)


def test_finetune_errors(sample_vol_forward):
    network = UNetEnsemble([UNet3D(CONFIG.network)] * 2)
    model = PIUNet(network, GridSpec((8, 8, 8), 0.010))  # a card without config
    with pytest.raises(ValueError, match="cannot both be None"):
        finetune_model(sample_vol_forward, model, time_limit=None)
    with pytest.raises(ValueError, match="time_limit must be positive seconds, got 0"):
        finetune_model(sample_vol_forward, model, time_limit=0)
    with pytest.raises(TypeError, match="n_steps must be an instance of"):
        finetune_model(sample_vol_forward, model, n_steps=1.5)
    for members in ([2], [], [0.5], [True]):
        with pytest.raises(ValueError, match="members must be positions of the"):
            finetune_model(sample_vol_forward, model, n_steps=1, members=members)
    with pytest.raises(ValueError, match="card holds no training configuration"):
        finetune_model(sample_vol_forward, model, n_steps=1, device="cpu")


def test_training_and_inference_feed_the_network_alike(sample_vol_forward):
    """The same sensor data reach the network identically in training and in apply."""
    from mne_piunet._eeg import forward_eeg_info
    from mne_piunet.training import _Problem

    problem = _Problem(sample_vol_forward, CONFIG, None, torch.device("cpu"))
    batch = problem.sim.sample(5, torch.Generator().manual_seed(3))
    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, volume):
            seen.append(volume.detach().clone())
            return volume

    model = PIUNet(Recorder(), problem.spec)
    init, fit = problem.init_from_sensors(batch.sensors)
    model.refine(init, problem.grid, fit=fit)  # what a training step feeds it
    info = forward_eeg_info(sample_vol_forward)
    evoked = mne.EvokedArray(batch.sensors.numpy().T, info, nave=1)
    apply_piunet(  # independent samples: no smoothing over "time"
        evoked,
        sample_vol_forward,
        model,
        batch_size=5,
        **INDEPENDENT_SAMPLES,
    )
    train_input, apply_input = seen
    assert train_input.shape == (5, 3, *problem.spec.shape)
    # float32 kernel product in training, float64 at inference: equal to float32
    torch.testing.assert_close(apply_input, train_input, rtol=1e-4, atol=1e-5)
    assert float(train_input.abs().amax()) == pytest.approx(1.0)


def test_pooled_error_grows_with_misplacement(sample_vol_forward):
    """The EMD surrogate sees how far a source is misplaced; L1 does not."""
    from conftest import grid_for

    from mne_piunet import VoxelGrid
    from mne_piunet._grid import forward_source_positions
    from mne_piunet.training import _pooled_error

    fwd = sample_vol_forward
    grid = VoxelGrid.from_forward(grid_for(fwd), fwd)
    pos = forward_source_positions(fwd)
    first = int(np.argmin(pos[:, 0]))  # leftmost source; others to its right
    dist = np.linalg.norm(pos - pos[first], axis=1)
    others = [int(np.argmin(np.abs(dist - d))) for d in (0.01, 0.03, 0.06, 0.1)]
    target = torch.zeros(1, len(pos), 3, dtype=torch.float64)
    target[0, first, 2] = 1.0
    assert float(_pooled_error(target, target, grid, 4)) == 0.0
    errors, l1 = [], []
    for k in others:
        out = torch.zeros_like(target)
        out[0, k, 2] = 1.0
        pooled = [_pooled_error(out, target, grid, s) for s in (2, 4, 8)]
        errors.append(float(sum(pooled)))
        l1.append(float((out - target).abs().sum()))
    # cells are aligned to the grid, so nearby shifts may cost the same; the
    # cost never falls with distance, and a far shift costs more than a near one
    assert np.all(np.diff(errors) >= 0) and errors[-1] > 2 * errors[0], errors
    assert np.ptp(l1) == 0


def test_pooled_loss_and_bf16_training(sample_vol_forward, tmp_path):
    torch.set_num_threads(1)
    config = replace(CONFIG, pooled_scales=(2, 4), precision="bfloat16")
    model = train_model(sample_vol_forward, config, checkpoint_dir=tmp_path)
    card = model.info["training"]
    assert card["config"]["pooled_scales"] == [2, 4]
    # the objective adds the pooled terms to the L1, which is logged alone too
    for row in _log(tmp_path):
        assert row["val_loss"] > row["val_l1"] > 0
    assert card["val_loss"] > card["val_l1"]


def test_cosine_schedule_and_resume(sample_vol_forward, tmp_path):
    """The rate falls along half a cosine, step by step, across a resume."""
    torch.set_num_threads(1)
    config = replace(CONFIG, lr_schedule="cosine", lr=1e-3)
    model = train_model(sample_vol_forward, config, checkpoint_dir=tmp_path / "a")
    # the rate logged after steps 2 and 4 of 4: half of lr, then 0
    assert [r["lr"] for r in _log(tmp_path / "a")] == pytest.approx([5e-4, 0.0])
    assert model.info["training"]["config"]["lr_schedule"] == "cosine"
    train_model(sample_vol_forward, config, checkpoint_dir=tmp_path / "b", time_limit=0)
    train_model(sample_vol_forward, config, checkpoint_dir=tmp_path / "b", resume=True)
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    for ra, rb in zip(a, b, strict=True):
        assert rb["lr"] == pytest.approx(ra["lr"])
        assert rb["val_l1"] == pytest.approx(ra["val_l1"], rel=1e-5)
    # the plateau schedule keeps the rate over so short a run
    train_model(
        sample_vol_forward,
        replace(config, lr_schedule="plateau"),
        checkpoint_dir=tmp_path / "c",
    )
    assert [r["lr"] for r in _log(tmp_path / "c")] == [1e-3, 1e-3]


def test_train_config_from_dict_round_trip():
    """A model card's config dict builds the same TrainConfig, nested parts too."""
    config = replace(
        CONFIG,
        focus=SimulationConfig(n_sources=(1, 1), extent=(0.005, 0.01)),
        focus_prob=0.3,
        noise=NoiseConfig(n_covariances=3),
        n_channels=(30, 50),
        pooled_scales=(2, 4),
    )
    saved = json.loads(json.dumps(config.to_dict()))  # lists, as in a card
    assert TrainConfig.from_dict(saved) == config
    del saved["precision"]  # a card written before the setting existed
    assert TrainConfig.from_dict(saved).precision == TrainConfig().precision


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(pooled_scales=(1, 2)), "pooled_scales must be integers of at least 2"),
        (dict(precision="half"), "Invalid value for the 'precision'"),
        (dict(amplitude="data"), "Invalid value for the 'amplitude'"),
        (dict(loss_norm="sum"), "Invalid value for the 'loss_norm'"),
        (dict(loss="huber"), "Invalid value for the 'loss'"),
        (dict(loss="l2", pooled_scales=(2,)), "pooled_scales add absolute errors"),
        (dict(lr_schedule="step"), "Invalid value for the 'lr_schedule'"),
        (dict(focus_prob=0.3), "0 without a focus distribution"),
        (
            dict(focus=SimulationConfig(), focus_prob=1.5),
            r"focus_prob must be in \[0, 1\]",
        ),
    ],
)
def test_bad_train_config(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


@pytest.mark.parametrize("focus_prob", [0.0, 1.0])
def test_focus_distribution(sample_vol_forward, focus_prob):
    """focus_prob of the batches come from the focus distribution."""
    from mne_piunet.training import _Problem

    config = replace(
        CONFIG,
        simulation=SimulationConfig(n_sources=(8, 8), extent=(0.03, 0.03)),
        focus=SimulationConfig(n_sources=(1, 1), extent=(0.005, 0.005)),
        focus_prob=focus_prob,
    )
    problem = _Problem(sample_vol_forward, config, None, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        amp = problem.make_batch(4, gen).target.norm(dim=2)
        support = (amp > 0.1 * amp.amax(dim=1, keepdim=True)).sum(dim=1)
        # one 5 mm blob covers a handful of 7 mm points; eight 30 mm blobs, hundreds
        if focus_prob:
            assert int(support.max()) < 20
        else:
            assert int(support.min()) > 100


def _silent_batch(batch):
    """The batch as silent samples whose init shows nothing: norms at the floor."""
    from mne_piunet.training import _NORM_FLOOR

    return replace(
        batch,
        init=torch.zeros_like(batch.init),
        fit=None,
        target=torch.zeros_like(batch.target),
        norm=torch.full_like(batch.norm, _NORM_FLOOR),
        mass=torch.full_like(batch.mass, _NORM_FLOOR),
    )


def test_loss_norm_weighs_samples_alike(sample_vol_forward, tmp_path):
    """An all-zero map scores 1 on every sample under "mass"; focal ones less else."""
    from mne_piunet.training import _loss, _Problem

    torch.set_num_threads(1)
    zero = lambda v: 0 * v  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    scores = {}
    for name, sim in (
        ("focal", SimulationConfig(n_sources=(1, 1), extent=(0.005, 0.005))),
        ("wide", SimulationConfig(n_sources=(8, 8), extent=(0.03, 0.03))),
    ):
        config = replace(CONFIG, simulation=sim)
        problem = _Problem(sample_vol_forward, config, None, torch.device("cpu"))
        batch = problem.make_batch(4, gen)
        model, grid = problem.init_model, problem.grid
        for loss_norm in ("max", "mass", "geometric"):
            objective = replace(config, loss_norm=loss_norm)
            scores[loss_norm, name] = float(_loss(model, grid, batch, zero, objective))
        # without an objective: the L1 relative to the maximum (logged as val_l1)
        plain = (batch.target.abs().mean(dim=(1, 2)) / batch.norm).mean()
        torch.testing.assert_close(_loss(model, grid, batch, zero), plain)
    assert scores["mass", "focal"] == pytest.approx(1.0)
    assert scores["mass", "wide"] == pytest.approx(1.0)
    # relative to the maximum, a focal source weighs a small fraction of wide ones
    assert scores["max", "focal"] < 0.1 * scores["max", "wide"]
    # the geometric mean of the two norms weighs focal samples in between
    ratio = {k: scores[k, "focal"] / scores[k, "wide"] for k in ("max", "geometric")}
    assert 3 * ratio["max"] < ratio["geometric"] < 1
    # a silent sample whose init shows nothing sits at the norms' floor: no NaN
    silent = _silent_batch(batch)
    for loss_norm in ("max", "mass", "geometric"):
        objective = replace(config, loss_norm=loss_norm)
        assert float(_loss(model, grid, silent, None, objective)) == 0.0
    # training selects on the objective and logs the plain L1 beside it
    config = replace(CONFIG, loss_norm="mass")
    model = train_model(sample_vol_forward, config, checkpoint_dir=tmp_path)
    assert model.info["training"]["config"]["loss_norm"] == "mass"
    for row in _log(tmp_path):
        assert row["val_loss"] > row["val_l1"] > 0


def test_squared_error_loss(sample_vol_forward, tmp_path):
    """loss="l2": the mean squared error over the squared norm, selected on."""
    from mne_piunet.training import _loss, _Problem

    torch.set_num_threads(1)
    config = replace(CONFIG, loss="l2", loss_norm="mass")
    problem = _Problem(sample_vol_forward, config, None, torch.device("cpu"))
    batch = problem.make_batch(4, torch.Generator().manual_seed(0))
    model, grid = problem.init_model, problem.grid
    zero = lambda v: 0 * v  # noqa: E731
    expected = (batch.target.square().mean(dim=(1, 2)) / batch.mass.square()).mean()
    torch.testing.assert_close(_loss(model, grid, batch, zero, config), expected)
    # the refined map scores its own squared error, not the zero map's
    out = model.refine(batch.init, grid, fit=batch.fit)
    error = (out - batch.target).square().mean(dim=(1, 2)) / batch.mass.square()
    torch.testing.assert_close(_loss(model, grid, batch, None, config), error.mean())
    assert not torch.allclose(error.mean(), expected)
    # a silent sample whose init shows nothing sits at the norms' floor: no NaN
    silent = _silent_batch(batch)
    assert float(_loss(model, grid, silent, None, config)) == 0.0
    model = train_model(sample_vol_forward, config, checkpoint_dir=tmp_path)
    assert model.info["training"]["config"]["loss"] == "l2"
    rows = _log(tmp_path)
    assert all(row["val_loss"] != row["val_l1"] for row in rows)
    best = min(row["val_loss"] for row in rows)
    assert model.info["training"]["val_loss"] == pytest.approx(best)


@pytest.mark.parametrize("unwhitened_prob", [0.0, 1.0])
def test_coloured_noise_setups(sample_vol_forward, unwhitened_prob):
    """Coloured batches invert with their own covariance, or the ad-hoc one."""
    from mne_piunet.training import _Problem

    noise = NoiseConfig(
        n_covariances=2,
        n_background=(50, 100),
        white_prob=0.0,
        unwhitened_prob=unwhitened_prob,
    )
    config = replace(CONFIG, noise=noise)
    problem = _Problem(sample_vol_forward, config, None, torch.device("cpu"))
    colours = [s.noise_colour for s in problem.coloured]
    assert problem.default.noise_colour is None and all(c is not None for c in colours)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        setup = problem.pick_setup(gen)
        assert any(setup.noise_colour is c for c in colours)
        # the whitener (and init) of the ad-hoc covariance, or of the noise's own
        own = [s for s in problem.coloured if s.noise_colour is setup.noise_colour]
        expected = problem.default if unwhitened_prob else own[0]
        assert setup.kernel is expected.kernel
        torch.testing.assert_close(setup.whitener, expected.whitener)
    assert not torch.allclose(problem.coloured[0].whitener, problem.default.whitener)
    with pytest.raises(ValueError, match=r"unwhitened_prob must be in \[0, 1\]"):
        NoiseConfig(unwhitened_prob=1.5)


def test_init_amplitude_in_training(sample_vol_forward):
    """amplitude="init": the step's refine rule scales by the init, no data fit."""
    from mne_piunet.training import _loss, _Problem

    torch.manual_seed(0)
    config = replace(CONFIG, amplitude="init")
    problem = _Problem(sample_vol_forward, config, None, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    batch = problem.make_batch(4, gen)
    assert batch.fit is None
    # with an identity network the rule returns the init itself
    identity = problem.init_model
    out = identity.refine(batch.init, problem.grid, fit=batch.fit)
    torch.testing.assert_close(out, batch.init)
    with pytest.raises(ValueError, match="Invalid value for the 'orientation'"):
        identity.refine(batch.init, problem.grid, orientation="data")
    expected = ((batch.init - batch.target).abs().mean(dim=(1, 2)) / batch.norm).mean()
    torch.testing.assert_close(
        _loss(identity, problem.grid, batch, torch.nn.Identity()), expected
    )


def test_head_pool_training(sample_vol_forward, sample_surf_forward, sample_evoked):
    """Several forwards of one source space: each batch draws one of them."""
    from mne_piunet.training import _HeadPool

    names = sample_vol_forward["info"]["ch_names"]
    other = mne.pick_channels_forward(sample_vol_forward, names[:40], ordered=True)
    pool = _HeadPool([sample_vol_forward, other], CONFIG, None, torch.device("cpu"))
    drawn = []  # which head made each batch
    for k, head in enumerate(pool.heads):
        head.make_batch = _recording(head.make_batch, k, drawn)
    gen = torch.Generator().manual_seed(0)
    batches = [pool.make_batch(2, gen) for _ in range(20)]
    assert set(drawn) == {0, 1}
    # the heads share what depends on the source positions alone
    assert pool.heads[1].sim.dist2 is pool.heads[0].sim.dist2
    assert pool.heads[1].grid is pool.heads[0].grid
    assert all(b.init.shape == (2, sample_vol_forward["nsource"], 3) for b in batches)
    model = train_model([sample_vol_forward, other], CONFIG, device="cpu")
    assert model.info["training"]["head_pool_channels"] == [60, 40]
    assert model.info["head_model"]["n_channels"] == 60  # the first head
    with pytest.raises(ValueError, match=r"forward\[1\] has other source positions"):
        train_model([sample_vol_forward, sample_surf_forward], CONFIG)
    cov = mne.make_ad_hoc_cov(sample_evoked.info)
    with pytest.raises(ValueError, match="noise_cov belongs to one recording"):
        train_model([sample_vol_forward, other], CONFIG, noise_cov=cov)
    with pytest.raises(ValueError, match="non-empty list"):
        train_model([], CONFIG)
    with pytest.raises(TypeError, match="forward must be an instance of Forward"):
        train_model("fwd.fif", CONFIG)
    with pytest.raises(TypeError, match=r"forward\[1\] must be an instance of Forward"):
        train_model([sample_vol_forward, "fwd.fif"], CONFIG)


def _recording(make_batch, k, drawn):
    def recorded(*args, **kwargs):
        drawn.append(k)
        return make_batch(*args, **kwargs)

    return recorded
