"""A stand-in USB webcam for OpenCV's own V4L2 backend: tests/fakes/v4l2/*.c (device.c
says what it is), compiled with the system's cc and preloaded (LD_PRELOAD) into an app
run as a subprocess.

Its frames are a real clip's, written here in the forms a webcam sends: YUYV (BT.601
limited range, 4:2:2, encoded with the standard's matrix here, not OpenCV's) and MJPG.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

SOURCES = Path(__file__).resolve().parent / "fakes" / "v4l2"
FRAMES = 24  # looped: enough motion for the model, little disk


def build_library(folder: Path) -> Path:
    """The preload library, compiled once per source version into `folder`."""
    files = sorted([*SOURCES.glob("*.c"), *SOURCES.glob("*.h")])
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    library = folder / f"fake_v4l2-{digest}.so"
    if not library.exists():
        compiler = shutil.which("cc") or shutil.which("gcc")
        assert compiler, "the webcam stand-in needs a C compiler (cc)"
        partial = library.with_suffix(".tmp")
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(partial)]
            + [str(f) for f in files if f.suffix == ".c"]
            + ["-ldl", "-lpthread"],
            check=True,
        )
        partial.rename(library)
    return library


def yuyv(bgr: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUYV 4:2:2 (V4L2_PIX_FMT_YUYV: Y0 U Y1 V), from the standard's matrix."""
    rgb = bgr[..., ::-1].astype(np.float64) / 255
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    cb = (rgb[..., 2] - y) / 1.772
    cr = (rgb[..., 0] - y) / 1.402
    y, cb, cr = 16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr
    cb = (cb[:, 0::2] + cb[:, 1::2]) / 2
    cr = (cr[:, 0::2] + cr[:, 1::2]) / 2
    packed = np.empty((bgr.shape[0], bgr.shape[1] * 2), np.float64)
    packed[:, 0::2] = y
    packed[:, 1::4] = cb
    packed[:, 3::4] = cr
    return np.clip(np.round(packed), 0, 255).astype(np.uint8)


def clip_frames(clip: Path, count: int = FRAMES) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert frames, f"cannot read {clip}"
    return frames


@dataclass
class FakeWebcam:
    """One plugged-in webcam at /dev/video<number> offering `modes` ("MJPG:640x480,320x240;YUYV:640x480")."""

    folder: Path
    library: Path
    modes: str
    number: int = 0
    fps: str = "30"
    frames: list[np.ndarray] = field(default_factory=list)

    def write_frames(self, clip: Path) -> None:
        self.frames = clip_frames(clip)
        for part in self.modes.split(";"):
            fourcc, sizes = part.split(":")
            for size in sizes.split(","):
                width, height = (int(v) for v in size.split("x"))
                pictures = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in self.frames]
                if fourcc == "YUYV":
                    (self.folder / f"YUYV_{size}.raw").write_bytes(b"".join(yuyv(p).tobytes() for p in pictures))
                else:
                    jpegs = [cv2.imencode(".jpg", p, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for p in pictures]
                    records = b"".join(struct.pack("<I", len(j)) + j for j in jpegs)  # length, then the JPEG
                    (self.folder / f"MJPG_{size}.bin").write_bytes(records)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(self.library),
            "FAKE_V4L2_DIR": str(self.folder),
            "FAKE_V4L2_MODES": self.modes,
            "FAKE_V4L2_DEVICE": str(self.number),
            "FAKE_V4L2_FPS": self.fps,
        }

    def unplug(self) -> None:
        (self.folder / "unplugged").touch()

    def replug(self, number: int | None = None) -> None:
        """Plugged in again, at /dev/video<number> if given (the kernel's next free number)."""
        if number is not None:
            (self.folder / "replug_at").write_text(str(number))
        (self.folder / "unplugged").unlink()

    def stall(self, stalled: bool = True) -> None:
        flag = self.folder / "stalled"
        flag.touch() if stalled else flag.unlink()

    def streams(self) -> list[str]:
        """What each STREAMON streamed: "FOURCC WxH num/den buffers"."""
        log = self.folder / "streams.log"
        return log.read_text().splitlines() if log.exists() else []
