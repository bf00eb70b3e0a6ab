"""Stand-in for picamera2/request.py: CompletedRequest, and what the sensor sees as the ISP encodes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from libcamera import ColorSpace

from .settings import env

if TYPE_CHECKING:
    from . import Picamera2


def _scene(width: int, height: int) -> np.ndarray:
    """What the sensor sees, as RGB: one colour, or that colour left and its complement right."""
    rgb = np.array([int(v) for v in env("COLOUR", "255,0,0").split(",")], np.uint8)
    scene = np.empty((height, width, 3), np.uint8)
    scene[:] = rgb
    if env("SCENE") == "halves":
        scene[:, width // 2 :] = 255 - rgb
    return scene


#: Y'CbCr from R'G'B' in [0, 1] as the standards print their 8-bit equations (rows Y, Cb,
#: Cr; offsets 16/128/128 studio range, 0/128/128 full): ITU-R BT.601 and BT.709 studio
#: range, and JFIF's full-range BT.601 (sYCC). Written out here, not derived from Kr/Kb as
#: the app's decoder is, so a wrong matrix in either shows as a wrong colour.
_MATRICES = {
    ("Rec601", "Limited"): ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214)),
    ("Rec709", "Limited"): ((46.559, 156.629, 15.812), (-25.664, -86.336, 112.0), (112.0, -101.730, -10.270)),
    ("Rec601", "Full"): ((76.245, 149.685, 29.070), (-43.028, -84.472, 127.5), (127.5, -106.765, -20.735)),
}


def _encode_yuv420(scene: np.ndarray, stride: int, colour_space: ColorSpace) -> np.ndarray:
    """I420 planes with `stride` bytes a luma row (chroma half that), padding left as zeros."""
    height, width = scene.shape[:2]
    key = (colour_space.ycbcrEncoding.name, colour_space.range.name)
    matrix = np.array(_MATRICES[key])
    offsets = np.array([16.0 if key[1] == "Limited" else 0.0, 128.0, 128.0])
    y, cb, cr = np.moveaxis(scene.astype(np.float64) / 255 @ matrix.T + offsets, -1, 0)

    def subsample(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    buffer = np.zeros(stride * height * 3 // 2, np.uint8)
    luma = buffer[: stride * height].reshape(height, stride)
    luma[:, :width] = np.clip(np.round(y), 0, 255)
    half = stride // 2
    for index, plane in enumerate((cb, cr)):
        start = stride * height + index * half * (height // 2)
        rows = buffer[start : start + half * (height // 2)].reshape(height // 2, half)
        rows[:, : width // 2] = np.clip(np.round(subsample(plane)), 0, 255)
    return buffer.reshape(height * 3 // 2, stride)


class CompletedRequest:
    """request.py: CompletedRequest. Reference counted; the last release recycles the buffer."""

    def __init__(self, camera: Picamera2, sensor_ns: int) -> None:
        self.camera = camera
        self.ref_count = 1
        self.stop_count = camera.stop_count
        self.config = camera.camera_config.copy()
        self.sensor_ns = sensor_ns

    def acquire(self) -> None:
        with self.camera.request_lock:
            if self.ref_count == 0:
                raise RuntimeError("CompletedRequest: acquiring lock with ref_count 0")
            self.ref_count += 1

    def release(self) -> None:
        with self.camera.request_lock:
            self.ref_count -= 1
            if self.ref_count < 0:
                raise RuntimeError("CompletedRequest: lock now has negative ref_count")
            if self.ref_count == 0:
                self.camera.app_requests.discard(self)
                if self.camera.started and self.stop_count == self.camera.stop_count:
                    self.camera.free_buffers += 1  # queued back to libcamera

    def get_metadata(self) -> dict[str, Any]:
        return {"SensorTimestamp": self.sensor_ns, "FrameDuration": round(self.camera._frame_interval() * 1e6)}

    def make_array(self, name: str) -> np.ndarray:
        """request.py: Helpers.make_array. A copy; YUV420 keeps the stride's padding."""
        if self.ref_count == 0:
            raise RuntimeError("fake picamera2: make_array on a released request")
        if self.camera.closed:  # request.py: _MappedBuffer, with close()'s fresh allocator
            raise RuntimeError("failed to find buffer")
        config = self.config.get(name)
        if config is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        fmt, (width, height), stride = config["format"], config["size"], config["stride"]
        scene = _scene(width, height)
        if fmt in ("YUV420", "YVU420"):
            return _encode_yuv420(scene, stride, self.config["colour_space"])
        if fmt == "RGB888":
            return np.ascontiguousarray(scene[..., ::-1])
        if fmt == "XBGR8888":
            return np.concatenate([scene, np.full((height, width, 1), 255, np.uint8)], axis=2)
        raise RuntimeError("Format " + fmt + " not supported")
