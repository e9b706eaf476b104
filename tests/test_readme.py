"""The README's Python snippets run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.rst"
BLOCKS = re.findall(
    r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", README.read_text()
)


def test_readme_has_python_snippets():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_snippet_runs(index, data_path, tmp_path):
    code = "\n".join(line[4:] for line in BLOCKS[index].splitlines())
    env = dict(os.environ, MPLBACKEND="Agg", MNE_PIUNET_TESTING_DATA=str(data_path))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,  # about 20 s each when idle; generous for loaded machines
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
