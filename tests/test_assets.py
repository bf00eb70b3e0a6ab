"""app/assets.py against real files and a real HTTP server on 127.0.0.1.

Downloads go through urllib to a ThreadingHTTPServer serving a tmp folder; the
handler records every request path, so "no network" and "no second download" are
checked by what the server actually saw.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import helpers
import pytest
from helpers import PROJECT_ROOT, assets_dir, run_app

from app import assets
from app.assets import Asset
from app.errors import AppError

A0_SHA256 = "6125b36e2485eeb5cc1fd6206cf5e5d70235593fbc84610d1dce97fe3aa9c2ac"
# More than one 64 KiB copy chunk, so streaming and hashing span several reads.
PAYLOAD = bytes(range(256)) * 1000
BAD_PAYLOAD = PAYLOAD[:-1] + b"\x00"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@dataclass
class Server:
    """A local HTTP server over `root`; `requests` holds every GET path it answered."""

    url: str
    root: Path
    requests: list[str] = field(default_factory=list)

    def put(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}"


class _Handler(SimpleHTTPRequestHandler):
    """Serves files; `/truncated/NAME` promises all of NAME in Content-Length, sends half, hangs up."""

    record: list[str]

    def do_GET(self) -> None:
        self.record.append(self.path)
        if self.path.startswith("/truncated/"):
            data = (Path(self.directory) / self.path.removeprefix("/truncated/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    root = tmp_path / "served"
    root.mkdir()
    record: list[str] = []
    handler = type("Handler", (_Handler,), {"record": record})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", root, record)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def target_dir(tmp_path: Path) -> Path:
    """Where fetch installs; fetch creates it."""
    return tmp_path / "installed"


def make_asset(urls: list[str | dict[str, str]], sha256: str | None = sha(PAYLOAD), file: str = "m.tflite") -> Asset:
    entries = [u if isinstance(u, dict) else {"url": u} for u in urls]
    return Asset("test", file, sha256, None, entries)


def fetch(asset: Asset, directory: Path, force: bool = False) -> Path:
    return assets.fetch(asset, directory=directory, offline_dir="", force=force)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/m.tflite"


# ---- downloading -------------------------------------------------------------------------


def test_download_installs_verified_file(server: Server, target_dir: Path) -> None:
    """A good download lands at directory/file with the served bytes, verifies ok, leaves no temp file."""
    asset = make_asset([server.put("m.tflite", PAYLOAD)])
    path = fetch(asset, target_dir)
    assert path == target_dir / "m.tflite"
    assert path.read_bytes() == PAYLOAD
    assert assets.verify(asset, target_dir) == "ok"
    assert listing(target_dir) == ["m.tflite"]
    assert server.requests == ["/m.tflite"]


def test_second_fetch_is_a_no_op(server: Server, target_dir: Path) -> None:
    """Fetching an installed, matching file again does not touch the network or the file."""
    asset = make_asset([server.put("m.tflite", PAYLOAD)])
    path = fetch(asset, target_dir)
    before = path.stat().st_mtime_ns
    assert fetch(asset, target_dir) == path
    assert server.requests == ["/m.tflite"]
    assert path.stat().st_mtime_ns == before


def test_force_downloads_again(server: Server, target_dir: Path) -> None:
    """force=True downloads even when the installed file matches."""
    asset = make_asset([server.put("m.tflite", PAYLOAD)])
    fetch(asset, target_dir)
    fetch(asset, target_dir, force=True)
    assert server.requests == ["/m.tflite", "/m.tflite"]
    assert (target_dir / "m.tflite").read_bytes() == PAYLOAD


def test_checksum_mismatch_installs_nothing(server: Server, target_dir: Path) -> None:
    """A download with the wrong sha256 is refused and its temporary file removed."""
    asset = make_asset([server.put("m.tflite", BAD_PAYLOAD)])
    with pytest.raises(AppError, match="checksum mismatch") as error:
        fetch(asset, target_dir)
    assert sha(BAD_PAYLOAD) in str(error.value)
    assert listing(target_dir) == []


def test_checksum_mismatch_keeps_the_good_file(server: Server, target_dir: Path) -> None:
    """A forced re-download that turns out bad leaves the installed good file byte-for-byte."""
    url = server.put("m.tflite", PAYLOAD)
    asset = make_asset([url])
    fetch(asset, target_dir)
    server.put("m.tflite", BAD_PAYLOAD)
    with pytest.raises(AppError, match="checksum mismatch"):
        fetch(asset, target_dir, force=True)
    assert (target_dir / "m.tflite").read_bytes() == PAYLOAD
    assert listing(target_dir) == ["m.tflite"]
    assert server.requests == ["/m.tflite", "/m.tflite"]


def test_falls_back_to_the_next_url_after_404(server: Server, target_dir: Path) -> None:
    """A 404 on the first address is skipped and the second one installs the file."""
    asset = make_asset([f"{server.url}/gone.tflite", server.put("m.tflite", PAYLOAD)])
    fetch(asset, target_dir)
    assert (target_dir / "m.tflite").read_bytes() == PAYLOAD
    assert server.requests == ["/gone.tflite", "/m.tflite"]


def test_falls_back_to_the_next_url_after_checksum_mismatch(server: Server, target_dir: Path) -> None:
    """A mirror serving the wrong bytes does not stop the next mirror from being tried."""
    asset = make_asset([server.put("bad.tflite", BAD_PAYLOAD), server.put("m.tflite", PAYLOAD)])
    fetch(asset, target_dir)
    assert (target_dir / "m.tflite").read_bytes() == PAYLOAD


def test_all_urls_fail(server: Server, target_dir: Path) -> None:
    """When every address fails, the AppError lists each URL tried with its reason."""
    refused = closed_port_url()
    urls = [f"{server.url}/a.tflite", f"{server.url}/b.tflite", refused]
    with pytest.raises(AppError) as error:
        fetch(make_asset(urls), target_dir)
    message = str(error.value)
    assert "could not download m.tflite" in message
    for url in urls:
        assert url in message
    assert message.count("File not found") == 2  # the 404 reason http.server sends
    assert "Connection refused" in message
    assert server.requests == ["/a.tflite", "/b.tflite"]
    assert listing(target_dir) == []


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_tar_gz_member_is_extracted(server: Server, target_dir: Path) -> None:
    """A Kaggle-style .tar.gz URL with `member` installs that member, not the archive."""
    url = server.put("download.tar.gz", _tar_gz({"README": b"hello", "1.tflite": PAYLOAD}))
    asset = make_asset([{"url": url, "member": "1.tflite"}])
    fetch(asset, target_dir)
    assert (target_dir / "m.tflite").read_bytes() == PAYLOAD
    assert assets.verify(asset, target_dir) == "ok"
    assert listing(target_dir) == ["m.tflite"]


def test_tar_gz_without_the_member(server: Server, target_dir: Path) -> None:
    """An archive lacking the member is a failed source (AppError naming it), not a crash."""
    url = server.put("download.tar.gz", _tar_gz({"README": b"hello"}))
    with pytest.raises(AppError, match=r"1\.tflite"):
        fetch(make_asset([{"url": url, "member": "1.tflite"}]), target_dir)
    assert listing(target_dir) == []


def test_unpublished_checksum_is_recorded(server: Server, target_dir: Path) -> None:
    """With sha256 None the file installs, its sha256 is recorded beside it, and corruption is caught."""
    asset = make_asset([server.put("m.tflite", PAYLOAD)], sha256=None)
    path = fetch(asset, target_dir)
    assert path.read_bytes() == PAYLOAD
    record = target_dir / "m.tflite.sha256"
    assert record.read_text().split() == [sha(PAYLOAD), "m.tflite"]
    assert assets.verify(asset, target_dir) == "ok"
    path.write_bytes(BAD_PAYLOAD)
    assert assets.verify(asset, target_dir) == "corrupt"
    fetch(asset, target_dir)  # a corrupt file is fetched again without force
    assert path.read_bytes() == PAYLOAD
    assert assets.verify(asset, target_dir) == "ok"
    assert len(server.requests) == 2


def test_truncated_download_without_checksum(server: Server, target_dir: Path) -> None:
    """A connection that drops before Content-Length bytes arrive must not install (and bless) a partial file."""
    server.put("m.tflite", PAYLOAD)
    asset = make_asset([f"{server.url}/truncated/m.tflite"], sha256=None)
    with pytest.raises(AppError):
        fetch(asset, target_dir)
    assert not (target_dir / "m.tflite").exists()


def test_truncated_download_with_checksum(server: Server, target_dir: Path) -> None:
    """With a published checksum a dropped connection is refused and nothing is installed."""
    server.put("m.tflite", PAYLOAD)
    with pytest.raises(AppError):
        fetch(make_asset([f"{server.url}/truncated/m.tflite"]), target_dir)
    assert listing(target_dir) == []


# ---- offline installs --------------------------------------------------------------------


@pytest.mark.parametrize("subfolder", ["", "models", "clips"])
def test_offline_folder_installs_without_network(
    server: Server, tmp_path: Path, target_dir: Path, subfolder: str
) -> None:
    """A file in the offline folder (directly, models/ or clips/) installs and the server is never asked."""
    offline = tmp_path / "offline"
    (offline / subfolder).mkdir(parents=True, exist_ok=True)
    (offline / subfolder / "m.tflite").write_bytes(PAYLOAD)
    asset = make_asset([f"{server.url}/m.tflite"])
    path = assets.fetch(asset, directory=target_dir, offline_dir=str(offline))
    assert path.read_bytes() == PAYLOAD
    assert assets.verify(asset, target_dir) == "ok"
    assert server.requests == []


def test_offline_folder_missing_file(server: Server, tmp_path: Path, target_dir: Path) -> None:
    """A file absent from the offline folder is an AppError naming the folder; no network fallback."""
    offline = tmp_path / "offline"
    (offline / "models").mkdir(parents=True)
    with pytest.raises(AppError, match="offline folder") as error:
        assets.fetch(make_asset([f"{server.url}/m.tflite"]), directory=target_dir, offline_dir=str(offline))
    assert str(offline) in str(error.value)
    assert server.requests == []
    assert not (target_dir / "m.tflite").exists()


def test_offline_file_with_wrong_checksum(tmp_path: Path, target_dir: Path) -> None:
    """An offline copy that does not match the checksum is refused like a bad download."""
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "m.tflite").write_bytes(BAD_PAYLOAD)
    with pytest.raises(AppError, match="checksum mismatch"):
        assets.fetch(make_asset(["http://127.0.0.1:9/m.tflite"]), directory=target_dir, offline_dir=str(offline))
    assert listing(target_dir) == []


def test_offline_dir_comes_from_the_environment(
    tmp_path: Path, target_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With offline_dir=None, fetch uses MOVINET_ASSETS_DIR."""
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "m.tflite").write_bytes(PAYLOAD)
    monkeypatch.setenv("MOVINET_ASSETS_DIR", str(offline))
    assets.fetch(make_asset(["http://127.0.0.1:9/m.tflite"]), directory=target_dir)
    assert (target_dir / "m.tflite").read_bytes() == PAYLOAD


# ---- the manifest ------------------------------------------------------------------------


def test_real_manifest() -> None:
    """models/manifest.json lists every variant with file, resolution, URLs and the known A0 checksum."""
    manifest = assets.load_manifest()
    assert manifest.default_model == "a0-int8"
    assert {"a0-int8", "a1-int8", "a2-int8"} <= set(manifest.models)
    for key, asset in manifest.models.items():
        assert asset.file.endswith(".tflite"), key
        assert asset.details["resolution"] == (224 if key.startswith("a2") else 172), key
        assert asset.urls, key
        assert all(entry["url"].startswith("https://") for entry in asset.urls), key
        assert asset.sha256 is None or len(asset.sha256) == 64, key
    assert manifest.model("a0-int8").sha256 == A0_SHA256
    assert manifest.demo_clip.file == "carving_ice_172.mp4"


def test_real_manifest_matches_the_shared_assets(a0_model: Path, labels_path: Path, clips: Path) -> None:
    """The manifest's names and checksums for the A0 model, label map and demo clip match the real files."""
    manifest = assets.load_manifest()
    assert manifest.model("a0-int8").file == a0_model.name
    assert manifest.labels.file == labels_path.name
    assert assets.verify(manifest.model("a0-int8"), a0_model.parent) == "ok"
    assert assets.verify(manifest.labels, labels_path.parent) == "ok"
    assert assets.verify(manifest.demo_clip, clips) == "ok"


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        json.dumps({"labels": {}, "demo_clip": {}, "default_model": "a0-int8"}),
        json.dumps({"models": {"a0-int8": {"file": "m.tflite"}}}),
        json.dumps([1, 2]),
    ],
    ids=["bad-json", "empty", "no-models", "entry-missing-keys", "not-an-object"],
)
def test_broken_manifest(tmp_path: Path, text: str) -> None:
    """An unreadable manifest is an AppError naming the file, whatever is wrong with it."""
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AppError, match="unreadable") as error:
        assets.load_manifest(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("text", ['{"models": []}', '{"models": {"a0-int8": "m.tflite"}}'], ids=["list", "string"])
def test_manifest_with_wrong_json_types(tmp_path: Path, text: str) -> None:
    """A list or string where an object belongs is an AppError too, not an AttributeError traceback."""
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AppError, match="unreadable"):
        assets.load_manifest(path)


def test_missing_manifest(tmp_path: Path) -> None:
    """A manifest path that does not exist is an AppError, not an OSError."""
    with pytest.raises(AppError, match="unreadable"):
        assets.load_manifest(tmp_path / "absent.json")


# ---- the `models` commands ---------------------------------------------------------------

FETCHED = ["carving_ice_172.mp4", "kinetics600_label_map.txt", "movinet_a0_stream_int8.tflite"]


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    """Child processes started inside inherit this umask (sudo's or a user's may differ)."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def file_modes(directory: Path) -> dict[str, str]:
    return {name: f"{stat.S_IMODE((directory / name).stat().st_mode):04o}" for name in FETCHED}


def models_env(directory: Path, offline: Path) -> dict[str, str]:
    return {"MOVINET_MODELS_DIR": str(directory), "MOVINET_ASSETS_DIR": str(offline)}


@pytest.fixture(scope="module")
def shared() -> Path:
    """The shared assets folder, used as MOVINET_ASSETS_DIR (an offline install)."""
    return assets_dir()


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    """A models folder filled by `python -m app models fetch` from the shared assets."""
    directory = tmp_path_factory.mktemp("models")
    with umask(0o022):
        result = run_app("models", "fetch", env=models_env(directory, shared))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split().count("ok") == 3, result.stdout
    return directory


def test_cli_fetch_installs_the_default_set(fetched: Path, a0_model: Path) -> None:
    """`models fetch` offline installs the default model, label map and demo clip, all verified."""
    assert listing(fetched) == FETCHED
    assert (fetched / a0_model.name).read_bytes() == a0_model.read_bytes()
    manifest = assets.load_manifest()
    for asset in (manifest.model("a0-int8"), manifest.labels, manifest.demo_clip):
        assert assets.verify(asset, fetched) == "ok"


def test_cli_fetch_installs_files_every_user_can_read(fetched: Path) -> None:
    """Under a 022 umask the files are 0644, so a service's own user can load them (not mkstemp's 0600)."""
    assert file_modes(fetched) == dict.fromkeys(FETCHED, "0644")


@pytest.mark.parametrize("command", ["fetch", "verify"])
def test_cli_repairs_files_left_0600(tmp_path: Path, fetched: Path, shared: Path, command: str) -> None:
    """Files an older version installed 0600 get their read bits back from `models fetch` and `models verify`."""
    directory = tmp_path / "models"
    shutil.copytree(fetched, directory)
    for name in FETCHED:
        (directory / name).chmod(0o600)
    with umask(0o022):
        result = run_app("models", command, env=models_env(directory, shared))
    assert result.returncode == 0, result.stderr
    assert file_modes(directory) == dict.fromkeys(FETCHED, "0644")
    assert f"note: {directory / FETCHED[2]} was mode 0600; now 0644" in result.stderr
    assert "fetched" not in result.stderr  # repaired in place, not copied again


def test_cli_fetch_follows_a_stricter_umask(tmp_path: Path, shared: Path) -> None:
    """A 027 umask gives 0640: the read bits the umask allows, no more."""
    with umask(0o027):
        result = run_app("models", "fetch", env=models_env(tmp_path, shared))
    assert result.returncode == 0, result.stderr
    assert file_modes(tmp_path) == dict.fromkeys(FETCHED, "0640")


def test_cli_fetch_again_copies_nothing(tmp_path: Path, fetched: Path, shared: Path) -> None:
    """A second `models fetch` finds everything installed and copies nothing."""
    directory = tmp_path / "models"
    shutil.copytree(fetched, directory)
    before = {name: (directory / name).stat().st_mtime_ns for name in FETCHED}
    result = run_app("models", "fetch", env=models_env(directory, shared))
    assert result.returncode == 0, result.stderr
    assert "fetched" not in result.stderr
    assert result.stdout.split().count("ok") == 3
    assert {name: (directory / name).stat().st_mtime_ns for name in FETCHED} == before


def test_cli_verify_and_list(fetched: Path, shared: Path) -> None:
    """`models verify` exits 0 on a fresh fetch and `models list` shows a0-int8 as ok (default)."""
    env = models_env(fetched, shared)
    verify = run_app("models", "verify", env=env)
    assert verify.returncode == 0, verify.stderr
    assert sorted(line.split()[1] for line in verify.stdout.splitlines()) == FETCHED
    assert all(line.split()[0] == "ok" for line in verify.stdout.splitlines())
    listed = run_app("models", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("a0-int8 "))
    assert row.split()[1:5] == ["172x172", "int8", "3.3MB", "ok"]
    assert row.endswith("movinet_a0_stream_int8.tflite (default)")
    a2 = next(line for line in listed.stdout.splitlines() if line.startswith("a2-int8 "))
    assert "224x224" in a2
    assert "missing" in a2
    assert str(fetched) in listed.stdout


def test_cli_verify_catches_corruption(tmp_path: Path, fetched: Path, shared: Path) -> None:
    """One flipped byte in the installed model makes `models verify` exit 1 naming it corrupt."""
    directory = tmp_path / "models"
    shutil.copytree(fetched, directory)
    model = directory / "movinet_a0_stream_int8.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    result = run_app("models", "verify", env=models_env(directory, shared))
    assert result.returncode == 1
    assert "corrupt    movinet_a0_stream_int8.tflite" in result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: 1 file(s) missing or corrupt: run `python -m app models fetch --force`"
    ]


# ---- the test clips: pinned public sources, fetched by setup.sh --dev -----------------------

PINNED_RAW_URL = re.compile(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+")


def test_the_test_clips_are_pinned_and_are_the_shared_files(shared: Path) -> None:
    """Every clip the tests read can be downloaded, from a pinned commit, as these exact bytes."""
    clips = assets.load_manifest().test_clips
    assert sorted(clip.file for clip in clips.values()) == listing(shared / "clips")
    for clip in clips.values():
        assert assets.verify(clip, shared / "clips") == "ok", clip.file
        assert clip.size == (shared / "clips" / clip.file).stat().st_size
        assert clip.details.get("expected"), clip.file
        assert [PINNED_RAW_URL.fullmatch(entry["url"]) is not None for entry in clip.urls] == [True], clip.urls


def served_manifest(server: Server, shared: Path, tmp_path: Path, tamper: str | None = None) -> Path:
    """The real manifest with every download address pointing at the local server, which
    serves the shared files (`tamper`: that one with a byte changed)."""
    data = json.loads(assets.MANIFEST_PATH.read_text())
    entries = [data["labels"], data["demo_clip"], *data["models"].values(), *data["test_clips"].values()]
    for entry in entries:
        found = [p for p in (shared / "models" / entry["file"], shared / "clips" / entry["file"]) if p.is_file()]
        if found:
            content = found[0].read_bytes()
            if entry["file"] == tamper:
                content = content[:-1] + bytes([content[-1] ^ 1])
            entry["urls"] = [{"url": server.put(entry["file"], content)}]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def fetch_test_assets(manifest: Path, into: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MOVINET_ASSETS_DIR"}  # no offline folder: the network
    script = [sys.executable, "tests/fetch_assets.py", "--into", str(into), "--manifest", str(manifest)]
    return subprocess.run(script, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_setup_dev_fetches_the_test_assets_from_the_network(server: Server, shared: Path, tmp_path: Path) -> None:
    """What `setup.sh --dev` runs on a fresh clone: every test file downloaded and checked."""
    into = tmp_path / "tests-assets"
    done = fetch_test_assets(served_manifest(server, shared, tmp_path), into)
    assert done.returncode == 0, done.stderr
    assert listing(into / "clips") == listing(shared / "clips")
    assert listing(into / "models") == ["kinetics600_label_map.txt", "movinet_a0_stream_int8.tflite"]
    for folder in ("models", "clips"):
        for name in listing(into / folder):
            assert (into / folder / name).read_bytes() == (shared / folder / name).read_bytes(), name
    assert sorted(server.requests) == sorted(f"/{name}" for name in listing(into / "clips") + listing(into / "models"))
    again = fetch_test_assets(served_manifest(server, shared, tmp_path), into)
    assert again.returncode == 0 and len(server.requests) == 8  # verified files are not fetched again


def test_a_tampered_test_clip_is_not_installed(server: Server, shared: Path, tmp_path: Path) -> None:
    into = tmp_path / "tests-assets"
    done = fetch_test_assets(served_manifest(server, shared, tmp_path, tamper="arm_wrestling.mp4"), into)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "checksum mismatch for arm_wrestling.mp4" in done.stderr.strip().splitlines()[-1]
    assert not (into / "clips" / "arm_wrestling.mp4").exists()


def test_the_tests_find_downloaded_assets(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MOVINET_ASSETS_DIR nor ../shared/assets, the suite reads tests/assets."""
    downloaded = tmp_path / "downloaded"
    shutil.copytree(shared, downloaded)
    monkeypatch.delenv("MOVINET_ASSETS_DIR", raising=False)
    monkeypatch.setattr(helpers, "SHARED_ASSETS", tmp_path / "absent")
    monkeypatch.setattr(helpers, "DOWNLOADED_ASSETS", downloaded)
    assert helpers.assets_dir() == downloaded
    monkeypatch.setattr(helpers, "DOWNLOADED_ASSETS", tmp_path / "empty")
    with pytest.raises(pytest.fail.Exception, match=r"run ./setup.sh --dev"):
        helpers.assets_dir()
