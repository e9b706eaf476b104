"""Package structure: private names stay in their module; MNE privates in one place."""

import ast
from pathlib import Path

import pytest

import mne_piunet
from mne_piunet import _mne_private

PACKAGE = Path(mne_piunet.__file__).parent


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                yield node, alias.name


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_private_names_across_modules(path):
    """No module imports another's private name, nor a private name of MNE's."""
    for node, name in _imports(path):
        if not name.startswith("_") or name == "__version__":
            continue
        if node.level:  # from .x import _name: another module of the package
            pytest.fail(f"{path.name} imports the private {name} from .{node.module}")
        if (node.module or "").startswith("mne") and path.name != "_mne_private.py":
            pytest.fail(f"{path.name} imports MNE's private {name}; use _mne_private")


def test_mne_private_lookup_fails_clearly():
    assert _mne_private.make_stc.__name__ == "_make_stc"
    with pytest.raises(ImportError, match=r"needs mne.utils._gone from MNE-Python"):
        _mne_private.lookup("_gone", "mne.utils")
    with pytest.raises(ImportError, match=r"mne.nowhere._x.*Install a tested MNE"):
        _mne_private.lookup("_x", "mne.nowhere")


def test_docstrings_filled():
    """Shared entries are filled in (no placeholder left), MNE's own reused."""
    from mne.utils.docs import docdict

    for func in (
        mne_piunet.apply_piunet,
        mne_piunet.apply_piunet_epochs,
        mne_piunet.apply_piunet_raw,
        mne_piunet.make_piunet_operator,
    ):
        assert "%(" not in func.__doc__, func.__name__
        assert "lambda2 : float" in func.__doc__
    from mne_piunet.benchmark import run_benchmark
    from mne_piunet.training import finetune_model, train_model

    for func in (train_model, finetune_model, run_benchmark):
        assert "%(" not in func.__doc__, func.__name__
    verbose_text = docdict["verbose"].strip().splitlines()[1].strip()
    assert verbose_text in mne_piunet.apply_piunet.__doc__
    assert "Morik" in mne_piunet.apply_piunet.__doc__
