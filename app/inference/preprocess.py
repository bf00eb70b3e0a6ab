"""Turn a camera or video frame into the model's input, the way MoViNet was trained.

Centre crop to the model's aspect ratio (square for every official model), resize to
the model's size, RGB, float32 in [0, 1]. Every step writes into buffers allocated
once, and the colour conversion and scaling run on the small resized image, so the
per-frame cost stays small next to inference.
"""

from __future__ import annotations

import cv2
import numpy as np

_INV_255 = np.float32(1.0 / 255.0)


def centre_crop(frame: np.ndarray, aspect: float) -> np.ndarray:
    """The largest centred window of `frame` with width/height == aspect (a view, no copy)."""
    height, width = frame.shape[:2]
    if width > height * aspect:
        crop_width = max(1, round(height * aspect))
        left = (width - crop_width) // 2
        return frame[:, left : left + crop_width]
    crop_height = max(1, round(width / aspect))
    top = (height - crop_height) // 2
    return frame[top : top + crop_height]


class Preprocessor:
    """Callable: uint8 HxWx3 frame -> float32 [1, 1, H, W, 3] model input.

    Outputs come from a ring of `buffers` preallocated arrays: an output stays valid
    for `buffers - 1` further calls. One buffer suits a caller that runs the model
    before preprocessing again; a capture thread handing frames to the model through a
    one-slot mailbox needs three (one being written, one waiting, one being read).
    """

    def __init__(self, height: int, width: int, buffers: int = 1) -> None:
        self.height = height
        self.width = width
        self._resized = np.empty((height, width, 3), np.uint8)
        self._rgb = np.empty((height, width, 3), np.uint8)
        self._outputs = [np.empty((1, 1, height, width, 3), np.float32) for _ in range(buffers)]
        self._next = 0

    def __call__(self, frame: np.ndarray, order: str = "RGB") -> np.ndarray:
        """`order` is the frame's channel order: "RGB", or "BGR" as OpenCV decodes."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 HxWx3 frame, got {frame.dtype} {frame.shape}")
        crop = centre_crop(frame, self.width / self.height)
        shrinking = crop.shape[0] > self.height
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        cv2.resize(crop, (self.width, self.height), dst=self._resized, interpolation=interpolation)
        rgb = self._resized
        if order == "BGR":
            cv2.cvtColor(self._resized, cv2.COLOR_BGR2RGB, dst=self._rgb)
            rgb = self._rgb
        elif order != "RGB":
            raise ValueError(f"unknown channel order {order!r}")
        output = self._outputs[self._next]
        self._next = (self._next + 1) % len(self._outputs)
        np.multiply(rgb, _INV_255, out=output[0, 0])
        return output
