import pytest
import torch

from mne_piunet.__main__ import main


def test_demo(capsys, tmp_path):
    png = tmp_path / "demo.png"
    assert (
        main(["--verbose", "warning", "demo", "--n-samples", "3", "--out", str(png)])
        == 0
    )
    out = capsys.readouterr().out
    assert "3 simulated single sources" in out
    lines = [line.split() for line in out.splitlines()]
    rows = {r[0]: r[1:] for r in lines if r and r[0] in ("PIUNet", "eLORETA")}
    assert set(rows) == {"PIUNet", "eLORETA"}
    for values in rows.values():  # numbers, never nan
        assert all(0 <= float(v) < 1e3 for v in values), values
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png.resolve()) in out


def test_sys_info(capsys):
    import mne
    import torch

    assert main(["sys_info"]) == 0
    out = capsys.readouterr().out
    assert f"mne:         {mne.__version__}" in out
    assert f"torch:       {torch.__version__}" in out
    assert "devices:     cpu" in out and "bf16:" in out
    assert "model 'default': " in out


def test_bad_command(capsys):
    with pytest.raises(SystemExit):
        main(["nonsense"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, match",
    [
        (["demo", "--n-samples", "0"], "--n-samples: must be at least 1, got 0"),
        (["benchmark", "--n-samples", "-2"], "must be at least 1, got -2"),
        (["train", "--steps", "x"], "must be an integer, got 'x'"),
        (["benchmark", "--blend", "half"], "must be a number, got 'half'"),
    ],
)
def test_nonsense_counts_are_refused(args, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


def test_version_and_help(capsys):
    from mne_piunet import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"mne-piunet {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "train", "finetune", "benchmark", "fetch", "models"):
        assert command in out
    assert "``" not in out
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "(default: 20)" in capsys.readouterr().out


def test_help_loads_no_heavy_module():
    """--help answers without importing torch or MNE (they take seconds)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mne_piunet.__main__ import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({'torch', 'mne'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_train_fine_tunes_a_pretrained_model(tmp_path, capsys):
    from mne_piunet import read_model

    out = tmp_path / "tuned.safetensors"
    args = ["--verbose", "warning", "train", "--pretrained", "small"]
    args += ["--steps", "1", "--batch-size", "1", "--out", str(out)]
    assert main(args) == 0
    assert "Saved <PIUNet" in capsys.readouterr().out
    tuned, small = read_model(out), read_model("small")
    assert tuned.config == small.config  # the architecture comes along
    assert tuned.info["training"]["pretrained"] == small.info["training"]
    assert tuned.info["training"]["steps"] == 1
    # the default is an ensemble: one line says what fine-tunes it instead
    args[4] = "default"
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mne-piunet train: error: ") and "finetune" in err
    assert "\n" not in err and "Traceback" not in err
    args[1] = "debug"  # the full traceback for debugging
    with pytest.raises(ValueError, match="finetune_model"):
        main(args)


def test_finetune_a_member_on_a_forward_file(sample_vol_forward, tmp_path, capsys):
    import mne

    from mne_piunet import read_model

    fname = tmp_path / "subject-fwd.fif"
    mne.write_forward_solution(fname, sample_vol_forward)
    out = tmp_path / "tuned.safetensors"
    args = ["--verbose", "warning", "finetune", str(fname), "--members", "0"]
    args += ["--steps", "1", "--out", str(out)]
    assert main(args) == 0
    assert "Saved <PIUNet" in capsys.readouterr().out
    tuned, default = read_model(out), read_model("default")
    tuned_nets, default_nets = tuned.network.members, default.network.members
    # the chosen member trained one step on this head; the other is unchanged
    assert tuned.info["ensemble"]["members"][0]["training"]["steps"] == 1
    assert tuned.info["head_model"]["n_channels"] == sample_vol_forward["nchan"]

    def same(a, b):
        pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
        return all(torch.equal(x, y) for x, y in pairs)

    assert same(tuned_nets[1], default_nets[1])
    assert not same(tuned_nets[0], default_nets[0])


def test_benchmark_picks_numbers_of_sources(tmp_path):
    import csv

    out = tmp_path / "bench"
    args = ["--verbose", "warning", "benchmark", "--methods", "eLORETA"]
    args += ["--n-samples", "1", "--n-sources", "2", "--out", str(out)]
    args += ["--extent", "0.005", "0.008"]
    assert main(args) == 0
    with open(out / "template.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["n_sources"] for row in rows} == {"2"}
    assert sorted(float(row["snr_db"]) for row in rows) == [0, 5, 10, 20, 30]
    # focal blobs only: the mean standard deviation of the two is within range
    assert all(5 <= float(row["extent_mm"]) <= 8 for row in rows)


def test_benchmark_blend_one_scores_the_init(tmp_path):
    """--blend 1: PIUNet's map is eLORETA's (amplitudes aside), as scored."""
    import csv

    out = tmp_path / "bench"
    args = ["--verbose", "warning", "benchmark", "--methods", "PIUNet", "eLORETA"]
    args += ["--n-samples", "1", "--n-sources", "3", "--blend", "1", "--out", str(out)]
    assert main(args) == 0
    with open(out / "template.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    scores = {}
    for row in rows:
        scores.setdefault(row["snr_db"], {})[row["method"]] = float(row["nemd"])
    assert len(scores) == 5
    for by_method in scores.values():
        assert by_method["PIUNet"] == pytest.approx(by_method["eLORETA"], rel=1e-4)


def test_benchmark_on_the_cortex(tmp_path, template_surf_forward):
    """--source-space surface: cortical patches on the cortex template only."""
    import csv

    pytest.importorskip("ot")
    out = tmp_path / "bench"
    args = ["--verbose", "warning", "benchmark", "--methods", "eLORETA"]
    args += ["--n-samples", "1", "--n-sources", "1"]
    args += ["--source-space", "surface", "--out", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("*.csv")) == ["template-cortex.csv"]
    with open(out / "template-cortex.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # one sample per SNR; the extent is a patch's radius (areas of 1-10 cm²)
    assert sorted(float(row["snr_db"]) for row in rows) == [0, 5, 10, 20, 30]
    assert all(5.6 <= float(row["extent_mm"]) <= 17.9 for row in rows)
