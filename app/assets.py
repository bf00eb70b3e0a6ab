"""The official models, label map and demo clip: where they come from and where they go.

`models/manifest.json` lists each file with its download addresses and sha256. Files are
downloaded next to their final place, checked, and only then renamed into it, so a
failed or tampered download never replaces a good file. An offline or air-gapped
install sets MOVINET_ASSETS_DIR to a folder holding the same files (by name, directly
or in `models/` or `clips/` under it) and nothing is fetched from the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from app.errors import AppError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = PROJECT_ROOT / "models" / "manifest.json"
OFFLINE_ENV = "MOVINET_ASSETS_DIR"
MODELS_DIR_ENV = "MOVINET_MODELS_DIR"
_CHUNK = 1 << 16
_TIMEOUT_S = 30


@dataclass(frozen=True)
class Asset:
    """One downloadable file."""

    key: str
    file: str
    sha256: str | None
    size: int | None
    urls: list[dict[str, str]]
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    models: dict[str, Asset]
    labels: Asset
    demo_clip: Asset
    default_model: str
    test_clips: dict[str, Asset] = field(default_factory=dict)  # for the tests (setup.sh --dev)

    def model(self, key: str) -> Asset:
        try:
            return self.models[key]
        except KeyError:
            raise AppError(f"unknown model {key!r}: choose one of {', '.join(self.models)}") from None


def load_manifest(path: str | os.PathLike = MANIFEST_PATH) -> Manifest:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        models = {key: _asset(key, entry) for key, entry in data["models"].items()}
        test_clips = {key: _asset(key, entry) for key, entry in data.get("test_clips", {}).items()}
        labels, demo = _asset("labels", data["labels"]), _asset("demo", data["demo_clip"])
        return Manifest(models, labels, demo, data["default_model"], test_clips)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AppError(f"model manifest {path} is unreadable: {exc}") from None


def _asset(key: str, entry: dict) -> Asset:
    extra = {k: v for k, v in entry.items() if k not in {"file", "sha256", "bytes", "urls"}}
    return Asset(key, entry["file"], entry["sha256"], entry["bytes"], list(entry["urls"]), extra)


def models_dir() -> Path:
    """Where fetched files live: `models/` in the project unless MOVINET_MODELS_DIR says."""
    return Path(os.environ.get(MODELS_DIR_ENV) or PROJECT_ROOT / "models")


def default_model_path() -> Path:
    manifest = load_manifest()
    return models_dir() / manifest.model(manifest.default_model).file


def default_labels_path() -> Path:
    return models_dir() / load_manifest().labels.file


def resolve_model(name_or_path: str | None) -> Path:
    """`--model` takes a manifest name (a0-int8, a2-float16, ...) or a path to any stream model."""
    if not name_or_path:
        return default_model_path()
    manifest = load_manifest()
    if name_or_path in manifest.models:
        return models_dir() / manifest.models[name_or_path].file
    path = Path(name_or_path)
    if not os.path.lexists(path) and path.suffix != ".tflite" and len(path.parts) == 1:
        manifest.model(name_or_path)  # a mistyped model name: say which names exist
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _recorded_sha_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def expected_sha(asset: Asset, installed: Path) -> str | None:
    """The published checksum, else the one recorded when the file was first fetched."""
    if asset.sha256:
        return asset.sha256
    record = _recorded_sha_path(installed)
    return record.read_text().split()[0] if record.is_file() else None


def normal_file_mode() -> int:
    """What a file created by `open()` gets: 0644 under the usual 022 umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def repair_mode(path: Path) -> None:
    """Give an installed file back the read bits the umask allows.

    `tempfile.mkstemp` makes 0600 files and earlier versions renamed them into place as
    they were, so a service's own user could not read the model it was told to load.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    missing = normal_file_mode() & 0o444 & ~mode
    if not missing:
        return
    try:
        os.chmod(path, mode | missing)
    except PermissionError:
        raise AppError(
            f"{path} is mode {mode:04o}, so other users (a service's) cannot read it, and only its owner can "
            f"change that: sudo chmod a+r {path}"
        ) from None
    note = f"note: {path} was mode {mode:04o}; now {mode | missing:04o} so a service's user can read it"
    print(note, file=sys.stderr)


def verify(asset: Asset, directory: Path | None = None) -> str:
    """'ok', 'missing', 'unverified' (no checksum known), 'corrupt' or 'unreadable' (by this user)."""
    path = (directory or models_dir()) / asset.file
    if not path.is_file():
        return "missing"
    try:
        expected = expected_sha(asset, path)
        if expected is None:
            return "unverified"
        return "ok" if sha256_of(path) == expected else "corrupt"
    except PermissionError:  # e.g. a 0600 file another user fetched: said in the table, not a traceback
        return "unreadable"


def unreadable_fix(path: Path) -> AppError:
    """The error for an installed file this user may not read."""
    return AppError(f"permission denied: {path} (another user's file? its owner can fix it: sudo chmod a+r {path})")


def fetch(asset: Asset, directory: Path | None = None, offline_dir: str | None = None, force: bool = False) -> Path:
    """Install `asset` into `directory`, from the offline folder or the network.

    Quick when the file is already there and matches; raises AppError when no source
    gives a file with the right checksum, leaving any installed file untouched.
    """
    directory = directory or models_dir()
    target = directory / asset.file
    status = verify(asset, directory)
    if status == "unreadable":  # not replaced behind its owner's back: they make it readable
        raise unreadable_fix(target)
    if not force and status in {"ok", "unverified"}:
        repair_mode(target)
        return target
    offline_dir = os.environ.get(OFFLINE_ENV) if offline_dir is None else offline_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AppError(f"cannot create {directory}: {exc.strerror}") from None
    if offline_dir:
        source = _find_offline(asset, Path(offline_dir))
        with source.open("rb") as handle:
            _install(asset, handle, target, label=f"{asset.file} (from {source.parent})", total=source.stat().st_size)
        return target
    failures = []
    for entry in asset.urls:
        try:
            _download(asset, entry, target)
            return target
        except (urllib.error.URLError, OSError, tarfile.TarError, ValueError, AppError) as exc:
            failures.append(f"{entry['url']}: {getattr(exc, 'reason', exc)}")
    raise AppError(f"could not download {asset.file}; tried {len(failures)} address(es): " + "; ".join(failures))


def _find_offline(asset: Asset, folder: Path) -> Path:
    for candidate in (folder / asset.file, folder / "models" / asset.file, folder / "clips" / asset.file):
        if candidate.is_file():
            return candidate
    raise AppError(f"{asset.file} is not in the offline folder {folder} ({OFFLINE_ENV}), nor in its models/ or clips/")


def _download(asset: Asset, entry: dict[str, str], target: Path) -> None:
    request = urllib.request.Request(entry["url"], headers={"User-Agent": "movinet-pi-setup"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        member = entry.get("member")
        if member is None:
            _install(asset, response, target, label=asset.file, total=total)
            return
        # Kaggle serves a .tar.gz holding the model: buffer it, then take the member.
        archive = io.BytesIO()
        _copy_with_progress(response, archive, f"{asset.file} (archive)", total, hashlib.sha256())
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r:*") as tar:
            try:
                extracted = tar.extractfile(member)
            except KeyError:
                extracted = None
            if extracted is None:
                raise ValueError(f"archive has no file {member}")
            _install(asset, extracted, target, label=asset.file, total=None)


def _install(asset: Asset, source: BinaryIO, target: Path, label: str, total: int | None) -> None:
    """Stream into a temporary file beside `target`, check it, then rename into place."""
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(prefix=f".{asset.file}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            _copy_with_progress(source, out, label, total, digest)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), normal_file_mode())  # mkstemp's 0600 would hide it from a service
        actual = digest.hexdigest()
        if asset.sha256 and actual != asset.sha256:
            raise AppError(
                f"checksum mismatch for {asset.file}: expected {asset.sha256}, got {actual}; the file was not installed"
            )
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if not asset.sha256:
        # Nothing published to check against: remember this file's checksum so later
        # `models verify` runs can still detect corruption.
        _recorded_sha_path(target).write_text(f"{actual}  {asset.file}\n")
        print(f"note: no published checksum for {asset.file}; recorded sha256 {actual}", file=sys.stderr)


def _copy_with_progress(source: BinaryIO, out: BinaryIO, label: str, total: int | None, digest: object) -> None:
    show = sys.stderr.isatty()
    done = 0
    for chunk in iter(lambda: source.read(_CHUNK), b""):
        out.write(chunk)
        digest.update(chunk)  # type: ignore[attr-defined]
        done += len(chunk)
        if show:
            sys.stderr.write("\r" + _progress_line(label, done, total))
    if total and done != total:
        raise ValueError(f"incomplete download: got {done} of {total} bytes")
    if show:
        sys.stderr.write("\r" + _progress_line(label, done, total) + "\n")
    else:
        print(f"fetched {label}: {done / 1e6:.1f} MB", file=sys.stderr)


def _progress_line(label: str, done: int, total: int | None) -> str:
    if not total:
        return f"{label}: {done / 1e6:6.1f} MB"
    fraction = min(1.0, done / total)
    bar = "#" * int(fraction * 30)
    return f"{label}: [{bar:<30}] {fraction:4.0%} {done / 1e6:.1f}/{total / 1e6:.1f} MB"
