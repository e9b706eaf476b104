"""Every gallery example runs as a plain script (as sphinx-gallery runs it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, data_path, tmp_path):
    pytest.importorskip("nilearn", reason="the examples' volume plots need nilearn")
    pytest.importorskip("ot", reason="the examples' metrics need POT")
    env = dict(os.environ, MPLBACKEND="Agg", MNE_PIUNET_TESTING_DATA=str(data_path))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,  # a minute each when idle; generous for loaded machines
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
