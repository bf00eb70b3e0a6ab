"""Put what the tests need into tests/assets/: the A0 model and label map in models/, the
real clips in clips/, each checked against its sha256 in models/manifest.json.

`./setup.sh --dev` runs it when no offline folder is given (MOVINET_ASSETS_DIR unset), so
a fresh clone with network has its test clips; with MOVINET_ASSETS_DIR set (CI, an
offline machine) the files are taken from that folder instead of the network. The
clips come from public repositories at pinned commits (see the manifest's test_clips).

    python tests/fetch_assets.py [--into DIR] [--manifest PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from app import assets  # noqa: E402
from app.errors import AppError  # noqa: E402

DEFAULT_INTO = PROJECT_ROOT / "tests" / "assets"  # git-ignored
TEST_MODEL = "a0-int8"


def fetch_test_assets(into: Path, manifest: assets.Manifest) -> list[Path]:
    """Install (or check, when already there) every file the tests read; AppError if one fails."""
    wanted = [(manifest.model(TEST_MODEL), "models"), (manifest.labels, "models")]
    wanted += [(clip, "clips") for clip in manifest.test_clips.values()]
    return [assets.fetch(asset, directory=into / folder) for asset, folder in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download the test model, label map and clips.")
    parser.add_argument("--into", type=Path, default=DEFAULT_INTO, help=f"default {DEFAULT_INTO}")
    parser.add_argument("--manifest", type=Path, default=assets.MANIFEST_PATH)
    args = parser.parse_args(argv)
    try:
        paths = fetch_test_assets(args.into, assets.load_manifest(args.manifest))
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"test assets ready in {args.into}: {len(paths)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
