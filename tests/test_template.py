import mne
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import spearmanr

from mne_piunet._grid import forward_source_positions
from mne_piunet._io import data_dir
from mne_piunet.template import (
    CONDUCTIVITY,
    _forward_cache_fname,
    _montage_info,
    make_template_forward,
)


@pytest.fixture(scope="session")
def template_fwd():
    return make_template_forward()


def test_template_forward(template_fwd):
    fwd = template_fwd
    assert fwd["nchan"] == 61 and fwd["info"]["ch_names"][0] == "1"
    assert fwd["src"]._subject == "fsaverage"
    assert fwd["source_ori"] == mne.io.constants.FIFF.FIFFV_MNE_FREE_ORI
    gain = fwd["sol"]["data"]
    assert np.isfinite(gain).all()
    # the source grid is a 7 mm lattice that fits the default model grid
    rr = forward_source_positions(fwd)
    extent = np.round((rr.max(0) - rr.min(0)) / 0.007) + 1
    assert np.all(extent <= (24, 28, 24))
    off = (rr - rr.min(0)) / 0.007
    assert np.abs(off - np.round(off)).max() < 1e-3
    # peak sensitivity falls off with depth (distance to the nearest electrode)
    gain = gain - gain.mean(axis=0)
    peak = np.abs(gain.reshape(len(gain), -1, 3)).max(axis=(0, 2))
    elec = np.array([ch["loc"][:3] for ch in fwd["info"]["chs"]])
    depth = np.linalg.norm(fwd["source_rr"][:, None] - elec[None], axis=2).min(1)
    assert spearmanr(depth, peak).statistic < -0.7


def test_template_cache(template_fwd, monkeypatch, tmp_path):
    """The cache lives in MNE's data folder; a corrupt entry is rebuilt."""
    import os

    fname = _forward_cache_fname(
        _montage_info("easycap-M10"), "volume", 0.007, CONDUCTIVITY, 5.0
    )
    assert fname.parent == data_dir("template")
    assert str(fname).startswith(os.environ["MNE_DATA"])  # the tests' own folder
    gain = template_fwd["sol"]["data"]
    # a second call reads the cache: computing a forward would fail here
    with monkeypatch.context() as m:
        m.setattr(mne, "make_forward_solution", _must_not_be_called)
        cached = make_template_forward()
    # FIF stores the gain in float32, and an in-memory build may come from a
    # BEM solved in this process (not bit-reproducible across processes and
    # thread counts): compare relative to the largest gain
    tol = dict(rtol=1e-3, atol=1e-4 * np.abs(gain).max())
    np.testing.assert_allclose(cached["sol"]["data"], gain, **tol)
    # a truncated entry is noticed, deleted and rebuilt whole
    fname.write_bytes(fname.read_bytes()[:1000])
    with pytest.warns(RuntimeWarning, match="corrupt cache entry"):
        rebuilt = make_template_forward()
    np.testing.assert_allclose(rebuilt["sol"]["data"], gain, **tol)
    np.testing.assert_allclose(
        mne.read_forward_solution(fname)["sol"]["data"], gain, **tol
    )


def _must_not_be_called(*args, **kwargs):
    raise AssertionError("the forward was computed again instead of read")


def test_template_montage_types(template_fwd):
    montage = mne.channels.make_standard_montage("easycap-M1")
    montage = montage.copy().rename_channels({})
    sub = mne.channels.make_dig_montage(
        {
            k: v
            for k, v in montage.get_positions()["ch_pos"].items()
            if k in ("Fz", "Cz", "Pz", "Oz", "C3", "C4", "T7", "T8")
        },
        coord_frame="head",
        nasion=montage.get_positions()["nasion"],
        lpa=montage.get_positions()["lpa"],
        rpa=montage.get_positions()["rpa"],
    )
    fwd = make_template_forward(sub, spacing=0.015, cache=False)
    assert fwd["nchan"] == 8
    assert sorted(fwd["info"]["ch_names"]) == sorted(
        ["Fz", "Cz", "Pz", "Oz", "C3", "C4", "T7", "T8"]
    )
    assert 200 < fwd["nsource"] < template_fwd["nsource"] / 5
    with pytest.raises(TypeError, match="montage must be an instance of"):
        make_template_forward(61)


def test_cortical_template(template_surf_forward):
    """fsaverage5's white surfaces: valid fsaverage vertices, mesh normals."""
    import nibabel
    from nilearn.datasets import fetch_surf_fsaverage

    fwd = template_surf_forward
    src = fwd["src"]
    assert src.kind == "surface" and src._subject == "fsaverage"
    assert fwd["nsource"] >= 5000
    assert fwd["source_ori"] == mne.io.constants.FIFF.FIFFV_MNE_FREE_ORI
    meshes = fetch_surf_fsaverage("fsaverage5")
    head_mri_t = mne.transforms.invert_transform(fwd["mri_head_t"])
    for hemi, side in zip(src, ("left", "right"), strict=True):
        assert hemi["np"] == 10242 and hemi["vertno"].max() < 10242
        rr, tris = nibabel.load(meshes[f"white_{side}"]).agg_data()
        mri_rr = mne.transforms.apply_trans(head_mri_t, hemi["rr"])  # forward: head
        assert_allclose(mri_rr, rr / 1e3, atol=1e-6)  # mm -> m, same vertex order
        # normals: unit, and outward on average (away from the hemisphere centre)
        nn = hemi["nn"]
        assert_allclose(np.linalg.norm(nn, axis=1), 1, atol=1e-5)
        out = (nn * (hemi["rr"] - hemi["rr"].mean(0))).sum(1)
        assert (out > 0).mean() > 0.6
    assert np.isfinite(fwd["sol"]["data"]).all()


def test_cortical_template_cache_differs_from_volume():
    info = _montage_info("easycap-M10")
    volume = _forward_cache_fname(info, "volume", 0.007, CONDUCTIVITY, 5.0)
    surface = _forward_cache_fname(info, "surface", 0.007, CONDUCTIVITY, 5.0)
    assert volume != surface
    # the spacing does not apply to the cortex: one cache entry for all
    assert surface == _forward_cache_fname(info, "surface", 0.005, CONDUCTIVITY, 5.0)
    with pytest.raises(ValueError, match="Invalid value for the 'source_space'"):
        make_template_forward(source_space="cortex")


def test_skull_thickness_cache_key():
    info = _montage_info("easycap-M10")
    default = _forward_cache_fname(info, "volume", 0.007, CONDUCTIVITY, 5.0)
    assert default == _forward_cache_fname(
        info, "volume", 0.007, CONDUCTIVITY, 5.0, 0.007
    )
    assert default != _forward_cache_fname(
        info, "volume", 0.007, CONDUCTIVITY, 5.0, 0.005
    )


def test_first_call_gives_what_the_cache_gives(template_fwd):
    """The first call returns the forward as cached (FIF keeps float32 gains)."""
    again = make_template_forward()
    np.testing.assert_array_equal(again["sol"]["data"], template_fwd["sol"]["data"])


def test_meg_template_from_info(sample_evoked, monkeypatch):
    """MEG without an MRI: the recording's sensors on the template, cached."""
    info = sample_evoked.copy().pick("meg").info
    fwd = make_template_forward(info, spacing=0.015)
    assert fwd["nchan"] == 306 and fwd["src"]._subject == "fsaverage"
    assert fwd["info"].get_channel_types(unique=True) == ["grad", "mag"]
    assert np.isfinite(fwd["sol"]["data"]).all()
    assert_allclose(fwd["info"]["dev_head_t"]["trans"], info["dev_head_t"]["trans"])
    with monkeypatch.context() as m:  # the second call reads the cache
        m.setattr(mne, "make_forward_solution", _must_not_be_called)
        cached = make_template_forward(info, spacing=0.015)
    assert cached["info"]["ch_names"] == fwd["info"]["ch_names"]
    # another head position in the helmet is another forward
    moved = info.copy()
    moved["dev_head_t"]["trans"][2, 3] += 0.01
    key = dict(source_space="volume", spacing=0.015, conductivity=CONDUCTIVITY)
    fnames = [_forward_cache_fname(i, mindist=5.0, **key) for i in (info, moved)]
    assert fnames[0] != fnames[1]
