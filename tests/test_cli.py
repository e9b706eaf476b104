import pytest

from mne_piunet.__main__ import main


def test_demo(capsys):
    assert main(["--verbose", "warning", "demo", "--n-samples", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 simulated single sources" in out
    lines = [line.split() for line in out.splitlines()]
    rows = {r[0]: r[1:] for r in lines if r and r[0] in ("PIUNet", "eLORETA")}
    assert set(rows) == {"PIUNet", "eLORETA"}
    assert all(float(v) >= 0 for v in rows["PIUNet"])


def test_bad_command(capsys):
    with pytest.raises(SystemExit):
        main(["nonsense"])
    assert "invalid choice" in capsys.readouterr().err


def test_train_fine_tunes_a_pretrained_model(tmp_path, capsys):
    from mne_piunet import read_model

    out = tmp_path / "tuned.safetensors"
    args = ["--verbose", "warning", "train", "--pretrained", "default"]
    args += ["--steps", "1", "--batch-size", "1", "--out", str(out)]
    assert main(args) == 0
    assert "Saved <PIUNet" in capsys.readouterr().out
    tuned, default = read_model(out), read_model("default")
    assert tuned.config == default.config  # the architecture comes along
    assert tuned.info["training"]["pretrained"] == default.info["training"]
    assert tuned.info["training"]["steps"] == 1


def test_benchmark_picks_numbers_of_sources(tmp_path):
    import csv

    out = tmp_path / "bench"
    args = ["--verbose", "warning", "benchmark", "--methods", "eLORETA"]
    args += ["--n-samples", "1", "--n-sources", "2", "--out", str(out)]
    assert main(args) == 0
    with open(out / "template.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["n_sources"] for row in rows} == {"2"}
    assert sorted(float(row["snr_db"]) for row in rows) == [0, 5, 10, 20, 30]
