import json
import warnings
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
    assert full.info["head_model"]["ch_types"] == ["eeg"]
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


def test_train_on_meg(sample_meg_forward, sample_evoked):
    """A MEG forward trains a MEG model: its card says so, MEG data do not warn."""
    fwd = mne.pick_types_forward(sample_meg_forward, meg=True, eeg=False)
    model = train_model(fwd, CONFIG, device="cpu")
    assert model.info["head_model"]["ch_types"] == ["grad", "mag"]
    assert model.info["head_model"]["ch_dirs"] == []
    assert model.info["training"]["val_l1_init"] > 0
    evoked = sample_evoked.copy().pick("meg").crop(0.1, 0.11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stc = apply_piunet(evoked, fwd, model)
    assert np.isfinite(stc.data).all() and stc.data.any()


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


def test_resume_checkpoint_from_other_device(sample_vol_forward, tmp_path):
    torch.set_num_threads(1)
    train_model(sample_vol_forward, CONFIG, checkpoint_dir=tmp_path, time_limit=0)
    fname = tmp_path / "checkpoint.pt"
    payload = torch.load(fname, weights_only=True)
    assert payload["state"]["devices"] == [[0, "cpu"]]
    # as a CUDA run writes it: another random-state size, scores on other draws
    payload["state"].update(best=-1.0, best_l1=-1.0)
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
    assert model.info["training"]["devices"] == [[0, "cuda"], [2, "cpu"]]


def test_resume_checkpoint_of_older_version(sample_vol_forward, tmp_path):
    """Settings added since a checkpoint was written take their defaults."""
    from mne_piunet.training._config import with_defaults

    config = replace(
        CONFIG,
        noise=NoiseConfig(n_covariances=2),
        focus=SimulationConfig(n_sources=(1, 1)),
        focus_prob=0.5,
    )
    saved = config.to_dict()
    del saved["loss_norm"], saved["noise"]["white_prob"]
    del saved["focus"]["noise_only_prob"]
    assert with_defaults(saved) == config.to_dict()
    saved["noise"]["white_prob"] = 0.9  # a setting that differs is no default
    assert with_defaults(saved) != config.to_dict()
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


def test_fine_tune_from_pretrained(sample_vol_forward):
    torch.set_num_threads(1)
    base = train_model(sample_vol_forward, CONFIG, device="cpu", verbose=False)
    # lr 0: AdamW leaves the weights alone, so the start must be the pretrained
    frozen = replace(CONFIG, lr=0.0)
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
    coloured = replace(CONFIG, noise=NoiseConfig(n_covariances=3), seed=2)
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
    from mne_piunet._sensors import forward_eeg_info
    from mne_piunet.training._sampling import Problem

    problem = Problem(sample_vol_forward, CONFIG, None, torch.device("cpu"))
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


def test_train_config_from_dict_round_trip():
    """A model card's config dict builds the same TrainConfig, nested parts too."""
    config = replace(
        CONFIG,
        focus=SimulationConfig(n_sources=(1, 1), extent=(0.005, 0.01)),
        focus_prob=0.3,
        noise=NoiseConfig(n_covariances=3),
        loss_norm="mass",
    )
    saved = json.loads(json.dumps(config.to_dict()))  # lists, as in a card
    assert TrainConfig.from_dict(saved) == config
    del saved["precision"]  # a card written before the setting existed
    assert TrainConfig.from_dict(saved).precision == TrainConfig().precision


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(precision="half"), "Invalid value for the 'precision'"),
        (dict(amplitude="data"), "Invalid value for the 'amplitude'"),
        (dict(loss_norm="sum"), "Invalid value for the 'loss_norm'"),
        (dict(loss_norm="geometric"), "Invalid value for the 'loss_norm'"),
        (dict(init="LCMV"), "Invalid value for the 'init'"),
        (dict(batch_size=0), "batch_size must be at least 1, got 0"),
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
    from mne_piunet.training._sampling import Problem

    config = replace(
        CONFIG,
        simulation=SimulationConfig(n_sources=(8, 8), extent=(0.03, 0.03)),
        focus=SimulationConfig(n_sources=(1, 1), extent=(0.005, 0.005)),
        focus_prob=focus_prob,
    )
    problem = Problem(sample_vol_forward, config, None, torch.device("cpu"))
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
    from mne_piunet.training._sampling import NORM_FLOOR

    return replace(
        batch,
        init=torch.zeros_like(batch.init),
        fit=None,
        target=torch.zeros_like(batch.target),
        norm=torch.full_like(batch.norm, NORM_FLOOR),
        mass=torch.full_like(batch.mass, NORM_FLOOR),
    )


def test_loss_norm_weighs_samples_alike(sample_vol_forward, tmp_path):
    """An all-zero map scores 1 on every sample under "mass"; focal ones less else."""
    from mne_piunet.training._loss import loss
    from mne_piunet.training._sampling import Problem

    torch.set_num_threads(1)
    zero = lambda v: 0 * v  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    scores = {}
    for name, sim in (
        ("focal", SimulationConfig(n_sources=(1, 1), extent=(0.005, 0.005))),
        ("wide", SimulationConfig(n_sources=(8, 8), extent=(0.03, 0.03))),
    ):
        config = replace(CONFIG, simulation=sim)
        problem = Problem(sample_vol_forward, config, None, torch.device("cpu"))
        batch = problem.make_batch(4, gen)
        model, grid = problem.init_model, problem.grid
        for loss_norm in ("max", "mass"):
            scores[loss_norm, name] = float(loss(model, grid, batch, zero, loss_norm))
        # without an objective: the L1 relative to the maximum (logged as val_l1)
        plain = (batch.target.abs().mean(dim=(1, 2)) / batch.norm).mean()
        torch.testing.assert_close(loss(model, grid, batch, zero), plain)
    assert scores["mass", "focal"] == pytest.approx(1.0)
    assert scores["mass", "wide"] == pytest.approx(1.0)
    # relative to the maximum, a focal source weighs a small fraction of wide ones
    assert scores["max", "focal"] < 0.1 * scores["max", "wide"]
    # a silent sample whose init shows nothing sits at the norms' floor: no NaN
    silent = _silent_batch(batch)
    for loss_norm in ("max", "mass"):
        assert float(loss(model, grid, silent, None, loss_norm)) == 0.0
    # training selects on the objective and logs the plain L1 beside it
    config = replace(CONFIG, loss_norm="mass")
    model = train_model(sample_vol_forward, config, checkpoint_dir=tmp_path)
    assert model.info["training"]["config"]["loss_norm"] == "mass"
    for row in _log(tmp_path):
        assert row["val_loss"] > row["val_l1"] > 0


def test_coloured_noise_setups(sample_vol_forward):
    """Coloured batches invert with their own covariance."""
    from mne_piunet.training._sampling import Problem

    noise = NoiseConfig(n_covariances=2, n_background=(50, 100), white_prob=0.0)
    config = replace(CONFIG, noise=noise)
    problem = Problem(sample_vol_forward, config, None, torch.device("cpu"))
    colours = [s.noise_colour for s in problem.coloured]
    assert problem.default.noise_colour is None and all(c is not None for c in colours)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        setup = problem.pick_setup(gen)
        assert any(setup is s for s in problem.coloured)
    assert not torch.allclose(problem.coloured[0].whitener, problem.default.whitener)
    # the whitener whitens the noise it was drawn with
    colour = problem.coloured[0].noise_colour.double()
    white = problem.coloured[0].whitener.double() @ colour
    projected = white @ white.T  # identity on the non-reference subspace
    evals = torch.linalg.eigvalsh(projected)
    torch.testing.assert_close(
        evals[-10:], torch.ones(10, dtype=evals.dtype), atol=0.05, rtol=0
    )


def _moved(forward, seed=0):
    """The forward with each channel's gain scaled: a stand-in for a moved head."""
    moved = forward.copy()
    scale = np.random.default_rng(seed).uniform(0.5, 1.5, forward["nchan"])
    moved["sol"]["data"] = forward["sol"]["data"] * scale[:, None]
    return moved


def test_forward_pool(sample_vol_forward, tmp_path):
    """A pool of forwards: white and coloured setups per forward, each batch
    simulated through its setup's gain; the card counts the forwards."""
    from mne_piunet.training._sampling import Problem

    pool = [sample_vol_forward, _moved(sample_vol_forward)]
    noise = NoiseConfig(n_covariances=3, n_background=(50, 100), white_prob=0.5)
    config = replace(CONFIG, noise=noise)
    problem = Problem(pool, config, None, torch.device("cpu"))
    leads = [s.leadfield for s in problem.whites]
    assert len(leads) == 2 and not torch.allclose(leads[0], leads[1])
    for k, setup in enumerate(problem.coloured):  # covariances alternate
        assert torch.equal(setup.leadfield, leads[k % 2])
    gen = torch.Generator().manual_seed(0)
    drawn = {id(problem.pick_setup(gen)) for _ in range(40)}
    assert drawn == {id(s) for s in problem.whites + problem.coloured}
    # the samples go through the gain they are given
    quiet = SimulationConfig(n_sources=(1, 2), snr_db=(300.0, 300.0))
    for lead in leads:
        batch = problem.sim.sample(3, gen, config=quiet, leadfield=lead)
        expected = batch.sources.reshape(3, -1) @ lead.T
        torch.testing.assert_close(batch.sensors, expected, rtol=1e-4, atol=1e-12)
    model = train_model(pool, CONFIG, device="cpu")
    assert model.info["head_model"]["n_forwards"] == 2
    single = train_model(sample_vol_forward, CONFIG, device="cpu")
    assert single.info["head_model"]["n_forwards"] == 1


def test_forward_pool_errors(sample_vol_forward):
    """A pool must share channels and source points."""
    fewer = mne.pick_channels_forward(
        sample_vol_forward, sample_vol_forward["info"]["ch_names"][:-1]
    )
    with pytest.raises(ValueError, match="forward\\[1\\] has other channels"):
        train_model([sample_vol_forward, fewer], CONFIG)
    shifted = sample_vol_forward.copy()
    shifted["src"][0]["rr"] = shifted["src"][0]["rr"] + 0.01
    with pytest.raises(ValueError, match="forward\\[1\\] has other source points"):
        train_model([sample_vol_forward, shifted], CONFIG)
    with pytest.raises(TypeError, match="forward\\[1\\] must be"):
        train_model([sample_vol_forward, "fwd.fif"], CONFIG)
    with pytest.raises(ValueError, match="non-empty list"):
        train_model([], CONFIG)


def test_init_amplitude_in_training(sample_vol_forward):
    """amplitude="init": the step's refine rule scales by the init, no data fit."""
    from mne_piunet.training._loss import loss
    from mne_piunet.training._sampling import Problem

    torch.manual_seed(0)
    config = replace(CONFIG, amplitude="init")
    problem = Problem(sample_vol_forward, config, None, torch.device("cpu"))
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
        loss(identity, problem.grid, batch, torch.nn.Identity()), expected
    )


@pytest.mark.parametrize(
    "retired, value",
    [("pooled_scales", [2, 4]), ("loss", "l2"), ("lr_schedule", "cosine")],
)
def test_retired_options_refused(retired, value):
    """A card's retired option is accepted at its "off" value, refused when on."""
    saved = CONFIG.to_dict()
    off = {"pooled_scales": [], "loss": "l1", "lr_schedule": "plateau"}[retired]
    assert TrainConfig.from_dict({**saved, retired: off}) == CONFIG
    with pytest.raises(ValueError, match=f"sets {retired}=.*no longer has"):
        TrainConfig.from_dict({**saved, retired: value})
    noise = dict(NoiseConfig().__dict__, unwhitened_prob=0.5)
    with pytest.raises(ValueError, match="sets noise.unwhitened_prob=0.5"):
        TrainConfig.from_dict({**saved, "noise": noise})


def test_cortex_loss_scores_the_finished_map(sample_surf_forward):
    """On a cortex the loss scores what inference returns, and trains through it."""
    from mne_piunet.training._loss import loss
    from mne_piunet.training._sampling import Problem

    config = replace(CONFIG, simulation=SimulationConfig(n_sources=(1, 2)))
    problem = Problem(sample_surf_forward, config, None, torch.device("cpu"))
    assert not problem.grid.exact
    batch = problem.make_batch(3, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = PIUNet(UNet3D(config.network), problem.spec)
    value = loss(model, problem.grid, batch)

    def score(orientation):
        out = model.refine(
            batch.init, problem.grid, fit=batch.fit, orientation=orientation
        )
        return ((out - batch.target).abs().mean(dim=(1, 2)) / batch.norm).mean()

    with torch.no_grad():
        finished, network_only = score("physics"), score("network")
    torch.testing.assert_close(value.detach(), finished)
    assert abs(float(finished - network_only)) > 1e-3 * float(finished)
    value.backward()  # the finish is differentiable in the network's map
    grads = [p.grad for p in model.network.parameters() if p.grad is not None]
    assert grads and max(float(g.abs().max()) for g in grads) > 0
