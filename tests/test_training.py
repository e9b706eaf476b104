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
