import os
import shutil
import tempfile
from pathlib import Path

import mne
import numpy as np
import pytest
import torch

from mne_piunet import GridSpec, PIUNet, UNet3D, UNetConfig
from mne_piunet.datasets import testing_data_path

# Default: ../shared/data next to the checkout (override with MNE_PIUNET_TESTING_DATA)
_DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST_SPACING = 0.010  # 10 mm keeps the sample forward small and the tests fast


def pytest_configure(config):
    """Keep every cache of the run in a fresh folder (examples inherit it).

    MNE's data folder holds the template and sample caches; pointing it at a
    temporary folder keeps the user's own untouched and makes each run start
    as on a fresh machine, whatever another process does with the real one.
    """
    mne.set_log_level("WARNING")
    torch.set_num_threads(2)
    config._mne_piunet_data = tempfile.mkdtemp(prefix="mne-piunet-tests-")
    for key in ("MNE_DATA", "SUBJECTS_DIR"):  # no real fsaverage either
        folder = Path(config._mne_piunet_data) / key.lower()
        folder.mkdir()
        os.environ[key] = str(folder)


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "_mne_piunet_data", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def data_path():
    path = testing_data_path(_DEFAULT_DATA)
    if path is None:
        pytest.skip(
            "offline testing data not found: set MNE_PIUNET_TESTING_DATA to the "
            f"folder holding sample/ (default {_DEFAULT_DATA})"
        )
    return path


@pytest.fixture(scope="session")
def sample_evoked(data_path):
    """The sample subject's 'Left visual' response, with MEG and EEG."""
    evoked = mne.read_evokeds(
        data_path / "sample" / "MEG" / "test-ave.fif.gz", condition="Left visual"
    )
    return evoked.apply_baseline((None, 0))


@pytest.fixture(scope="session")
def sample_cov(data_path):
    return mne.read_cov(data_path / "sample" / "MEG" / "test-cov.fif")


@pytest.fixture(scope="session")
def sample_bem(data_path):
    fname = data_path / "sample/subjects/sample/bem/sample-1280-1280-1280-bem.fif"
    return mne.make_bem_solution(mne.read_bem_surfaces(fname))


@pytest.fixture(scope="session")
def sample_trans(data_path):
    return data_path / "sample" / "MEG" / "sample-trans.fif"


@pytest.fixture(scope="session")
def sample_vol_src(data_path, sample_bem):
    """A 10 mm volume source space inside the sample's BEM (forwards copy it)."""
    return mne.setup_volume_source_space(
        "sample",
        pos=TEST_SPACING * 1e3,
        bem=sample_bem,
        subjects_dir=data_path / "sample" / "subjects",
    )


@pytest.fixture(scope="session")
def sample_vol_forward(sample_vol_src, sample_evoked, sample_bem, sample_trans):
    """EEG forward on the 10 mm volume source space."""
    return mne.make_forward_solution(
        sample_evoked.info, sample_trans, sample_vol_src, sample_bem, meg=False
    )


@pytest.fixture(scope="session")
def sample_meg_forward(sample_vol_src, sample_evoked, sample_bem, sample_trans):
    """MEG and EEG forward on the same source space (306 + 60 channels)."""
    return mne.make_forward_solution(
        sample_evoked.info, sample_trans, sample_vol_src, sample_bem
    )


@pytest.fixture(scope="session")
def sample_surf_forward(
    tmp_path_factory, data_path, sample_evoked, sample_bem, sample_trans
):
    """EEG forward on a synthetic 'cortex': two small spheres inside the skull."""
    subjects_dir = tmp_path_factory.mktemp("subjects")
    surf_dir = subjects_dir / "sphere" / "surf"
    surf_dir.mkdir(parents=True)
    inner = [s for s in sample_bem["surfs"] if s["id"] == 4][0]  # MRI frame, m
    center = inner["rr"].mean(axis=0)
    ico = mne.surface._get_ico_surface(2)
    for hemi, sign in (("lh", -1), ("rh", 1)):
        rr = ico["rr"] * 25.0 + (center * 1e3 + [sign * 30.0, 0, 0])
        mne.write_surface(surf_dir / f"{hemi}.white", rr, ico["tris"])
    src = mne.setup_source_space(
        "sphere", spacing="all", subjects_dir=subjects_dir, add_dist=False
    )
    return mne.make_forward_solution(
        sample_evoked.info, sample_trans, src, sample_bem, meg=False, eeg=True
    )


@pytest.fixture(scope="session")
def template_surf_forward():
    """The cortical template (fsaverage5 white surfaces), built in the test cache."""
    from mne_piunet.template import make_template_forward

    return make_template_forward(source_space="surface")


def grid_for(forward, spacing=TEST_SPACING, margin=2, factor=4):
    """A GridSpec that holds the forward's sources with some margin."""
    from mne_piunet._grid import forward_source_positions

    rr = forward_source_positions(forward)
    need = np.ceil((rr.max(0) - rr.min(0)) / spacing).astype(int) + 1 + 2 * margin
    return GridSpec(tuple(int(-(-n // factor) * factor) for n in need), spacing)


def identity_model(forward, **info):
    return PIUNet(torch.nn.Identity(), grid_for(forward), info or None)


def tiny_model(forward, seed=0):
    torch.manual_seed(seed)
    config = UNetConfig(
        base_channels=8,
        channel_mults=(1, 2, 4),
        num_res_blocks=1,
        num_groups=4,
        num_heads=2,
    )
    return PIUNet(UNet3D(config), grid_for(forward))
