import json

import pytest
import torch

from mne_piunet import PIUNet, UNetConfig, apply_piunet
from mne_piunet.simulation import SimulationConfig
from mne_piunet.training import TrainConfig, train_model

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
        assert rb["train_l1"] == pytest.approx(ra["train_l1"], rel=1e-5)
    # the trained model runs through apply_piunet
    stc = apply_piunet(sample_evoked.copy().crop(0.1, 0.12), sample_vol_forward, full)
    assert stc.data.shape[0] == sample_vol_forward["nsource"]
    # resuming with another configuration is refused
    other = TrainConfig(**{**CONFIG.__dict__, "lr": 1e-2})
    with pytest.raises(ValueError, match="another TrainConfig"):
        train_model(
            sample_vol_forward, other, checkpoint_dir=tmp_path / "b", resume=True
        )
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_dir"):
        train_model(sample_vol_forward, CONFIG, resume=True)
