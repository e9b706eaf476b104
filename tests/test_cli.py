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
