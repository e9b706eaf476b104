import hashlib
import http.server
import json
import threading
from functools import partial

import pytest
import torch

import mne_piunet.datasets._fetch as fetch_mod
from mne_piunet import GridSpec, PIUNet, UNet3D, UNetConfig, read_model
from mne_piunet.__main__ import main
from mne_piunet.datasets import cached_models, fetch_model, model_names


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serve a folder; count requests; optionally cut a file off halfway."""

    requests = []
    drop_connection = False

    def do_GET(self):  # noqa: N802 (the standard library's name)
        type(self).requests.append(self.path)
        if not type(self).drop_connection:
            return super().do_GET()
        with open(self.translate_path(self.path), "rb") as fid:
            data = fid.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A model registered as "test", served over HTTP from 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    torch.manual_seed(0)
    config = UNetConfig(base_channels=8, num_res_blocks=1, num_groups=4)
    model = PIUNet(UNet3D(config), GridSpec((8, 8, 8), 0.007), {"init": "eLORETA"})
    model.save(served / "test.safetensors")
    data = (served / "test.safetensors").read_bytes()
    registry = {
        "base_url": "http://unused.invalid/",
        "models": {
            "test": {
                "fname": "test.safetensors",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "description": "a test model",
            }
        },
    }
    monkeypatch.setattr(
        fetch_mod, "_registry", lambda: json.loads(json.dumps(registry))
    )
    _Handler.requests = []
    _Handler.drop_connection = False
    handler = partial(_Handler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(fetch_mod.URL_KEY, f"http://127.0.0.1:{httpd.server_port}")
    yield served, tmp_path / "cache"
    httpd.shutdown()
    httpd.server_close()


def test_download_verify_and_cache(server):
    served, cache = server
    fname = fetch_model("test", path=cache)
    assert fname == cache / "test.safetensors"
    assert fname.read_bytes() == (served / "test.safetensors").read_bytes()
    assert _Handler.requests == ["/test.safetensors"]
    assert fetch_model("test", path=cache) == fname
    assert len(_Handler.requests) == 1  # the second call made no request
    assert read_model(fname).grid.shape == (8, 8, 8)
    assert fetch_model("test", path=cache, force_update=True) == fname
    assert len(_Handler.requests) == 2
    assert sorted(p.name for p in cache.iterdir()) == ["test.safetensors"]


def test_tampered_file_is_refused(server):
    served, cache = server
    data = bytearray((served / "test.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (served / "test.safetensors").write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="SHA256 does not match.*expected"):
        fetch_model("test", path=cache)
    assert list(cache.iterdir()) == []


def test_tampered_update_keeps_the_good_copy(server):
    served, cache = server
    good = fetch_model("test", path=cache).read_bytes()
    (served / "test.safetensors").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="SHA256 does not match"):
        fetch_model("test", path=cache, force_update=True)
    assert (cache / "test.safetensors").read_bytes() == good
    assert sorted(p.name for p in cache.iterdir()) == ["test.safetensors"]


def test_dropped_connection_leaves_no_file(server):
    _, cache = server
    _Handler.drop_connection = True
    with pytest.raises(RuntimeError, match="Downloading model 'test' from .* failed"):
        fetch_model("test", path=cache)
    assert list(cache.iterdir()) == []


def test_no_download(server):
    _, cache = server
    with pytest.raises(RuntimeError, match="is not cached.*fetch_model\\('test'\\)"):
        fetch_model("test", path=cache, download=False)
    assert _Handler.requests == []
    cache.mkdir()
    (cache / "test.safetensors").write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="is corrupt"):
        fetch_model("test", path=cache, download=False)


def test_bad_arguments(server):
    with pytest.raises(ValueError, match="Invalid value for the 'name' parameter"):
        fetch_model("nope")
    with pytest.raises(TypeError, match="name must be an instance of str"):
        fetch_model(3)


def test_cli_fetch_and_models(server, capsys):
    _, cache = server
    assert main(["models", "--path", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "test" in out and "not cached" in out
    assert main(["fetch", "test", "--path", str(cache)]) == 0
    assert str(cache / "test.safetensors") in capsys.readouterr().out
    main(["models", "--path", str(cache)])
    assert str(cache / "test.safetensors") in capsys.readouterr().out


@pytest.mark.parametrize("name", ["default", "small"])
def test_shipped_model_resolves_offline(name, tmp_path, monkeypatch):
    """The bundled models match their registry hashes and need no network."""
    monkeypatch.setenv(fetch_mod.URL_KEY, "http://127.0.0.1:9/")  # nothing listens
    assert name in model_names()
    fname = fetch_model(name, path=tmp_path)
    assert fname.parent == fetch_mod._BUNDLED_DIR
    rows = {row["name"]: row for row in cached_models(tmp_path)}
    assert rows[name]["cached"] == fname
    assert read_model(name).grid.spacing == pytest.approx(0.007)


def test_unbundled_model_is_fetched_by_name(tmp_path, monkeypatch):
    """'large' is in the registry, not in the wheel: it downloads on request."""
    monkeypatch.setenv(fetch_mod.URL_KEY, "http://127.0.0.1:9/")  # nothing listens
    assert "large" in model_names()
    assert not (fetch_mod._BUNDLED_DIR / "piunet-large.safetensors").exists()
    rows = {row["name"]: row for row in cached_models(tmp_path)}
    assert rows["large"]["bundled"] is False and rows["large"]["cached"] is None
    with pytest.raises(RuntimeError, match="'large' is not cached"):
        fetch_model("large", path=tmp_path, download=False)
    url = "http://127.0.0.1:9/piunet-large.safetensors"
    with pytest.raises(RuntimeError, match=f"from {url} failed.*Nothing was written"):
        fetch_model("large", path=tmp_path)
    assert list(tmp_path.iterdir()) == []
