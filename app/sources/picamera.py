"""The Raspberry Pi camera through picamera2 (Camera Module 2/3, HQ, AI camera).

With a preview, two streams: the full-size `main` stream that picamera2's own preview
shows, and a small YUV420 `lores` stream near the model's input size, so the ISP does the
scaling in hardware and Python only touches a few hundred pixels a side. Headless, only
that small stream, as `main`, at a frame rate near the sampling rate.

What picamera2 and libcamera do that this module is written around (see
tests/fakes/picamera2 for where in their source):

* `capture_request()` without `wait` blocks for ever when the camera stalls, and
  picamera2 runs its jobs strictly in order, so `stop()` would queue behind it: frames
  are captured with a bounded wait, and close() cancels and flushes the queued jobs,
  then lets `Picamera2.close()` stop the preview's loop before stopping the camera.
* All streams share one colour space, Rec709 for a 1280x720 video configuration by
  default; OpenCV's I420 conversion is BT.601 limited range, i.e. Smpte170m, so that is
  asked for, and the one the camera chose is read back and honoured.
* YUV420 arrays keep the stride's padding (e.g. 384 bytes a row for 320 pixels on a Pi
  5); the picture is cropped to the width the camera chose after conversion.
* `Picamera2(n)` indexes libcamera's camera list, which includes USB webcams (sorted
  last, "/usb" in their Id): those are left to OpenCV/V4L2.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as CaptureTimeout
from typing import Any

import cv2
import numpy as np

from app.errors import AppError
from app.sources.base import Frame, FrameSource, Keep, SourceError

log = logging.getLogger(__name__)

PREVIEW_SIZE = (1280, 720)
CAMERA_FPS = 30.0
#: picamera2's default for video configurations: the preview holds one buffer, picamera2
#: queues one for a quick capture, and the ISP needs the rest to keep 30 fps flowing.
BUFFER_COUNT = 6
#: How long a capture may wait for a frame before the camera counts as stalled. The first
#: frame after start takes a few frames' time (startup frames are dropped).
CAPTURE_TIMEOUT_S = 3.0
#: Headless, the camera runs at twice the sampling rate (so the sampler can pick evenly
#: spaced frames), at least this: fewer frames cost less CPU and power.
HEADLESS_MIN_FPS = 10.0
#: picamera2 rounds stream widths down to a multiple of 64 when aligning (a VC4 YUV420 or
#: a PiSP stream); a width that is one already keeps the rounding from squashing the picture.
LORES_WIDTH_ALIGN = 64

#: picamera2 0.3.20 added cancel_all_and_flush and capture_request(wait=SECONDS); before it
#: a bounded wait blocks for ever and a stalled camera can never be closed.
MIN_PICAMERA2 = "0.3.20"
UPGRADE = "sudo apt install --only-upgrade python3-picamera2"

NUMPY_FIX = (
    "the system's python3-picamera2 and simplejpeg are built for the system's numpy: "
    "run ./setup.sh again (it pins the venv's numpy to the system's major version)"
)


def import_picamera2() -> Any:
    """The Picamera2 class, or AppError naming the fix (not installed, or a numpy ABI mismatch)."""
    try:
        from picamera2 import Picamera2
    except ModuleNotFoundError as exc:
        if exc.name not in ("picamera2", "libcamera"):
            raise AppError(f"picamera2 cannot be loaded: {exc}") from None
        raise AppError(
            "picamera2 is not installed: on Raspberry Pi OS run ./setup.sh (apt python3-picamera2)"
        ) from None
    except (ImportError, ValueError, AttributeError) as exc:
        # A module compiled for another numpy fails with ValueError ("dtype size changed")
        # or AttributeError ("_ARRAY_API not found"), not ImportError.
        raise AppError(f"picamera2 cannot be loaded with numpy {np.__version__} ({exc}): {NUMPY_FIX}") from None
    return Picamera2


def check_picamera2(Picamera2: Any) -> None:
    """AppError with the command to run if this picamera2 cannot bound a capture or close a stalled camera."""
    if hasattr(Picamera2, "cancel_all_and_flush"):
        return
    try:
        from importlib.metadata import version

        installed = version("picamera2")
    except Exception:
        installed = "older than " + MIN_PICAMERA2
    raise AppError(
        f"picamera2 {installed} is too old: a stalled camera would hang the app (needs {MIN_PICAMERA2}): run {UPGRADE}"
    )


def release_leftover(Picamera2: Any, number: int) -> None:
    """Free what a failed `Picamera2(n)` leaves behind: its notify pipe and its registration.

    picamera2.py: __init__ opens the pipe and registers the object with the class-level
    CameraManager before opening the camera, and close() returns early for a camera that
    never opened, so each failed try (a busy camera) would keep two file descriptors.
    """
    manager = getattr(Picamera2, "_cm", None)
    leftover = getattr(manager, "cameras", {}).get(number)
    if leftover is None or getattr(leftover, "is_open", True):
        return
    for release in (lambda: leftover.notifymeread.close(), lambda: os.close(leftover.notifyme_w)):
        with contextlib.suppress(AttributeError, OSError):
            release()
    try:
        manager.cleanup(number)  # also stops the manager's thread when no camera is left
    except Exception as exc:
        log.debug("picamera2's camera manager kept the failed camera: %s", exc)


def pi_cameras(Picamera2: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """libcamera's cameras, split into (Pi cameras, USB webcams), in picamera2's numbering."""
    cameras = Picamera2.global_camera_info()
    usb = [camera for camera in cameras if "/usb" in camera.get("Id", "")]
    return [camera for camera in cameras if camera not in usb], usb


def find_pi_camera() -> bool:
    """True if libcamera lists a Pi camera. A numpy mismatch is logged, never raised."""
    try:
        Picamera2 = import_picamera2()
    except AppError as exc:
        if "not installed" not in str(exc):
            log.warning("%s", exc)
        return False
    try:
        return bool(pi_cameras(Picamera2)[0])
    except Exception as exc:
        log.debug("libcamera lists no camera: %s", exc)
        return False


def lores_size(model_size: tuple[int, int], main_size: tuple[int, int]) -> tuple[int, int]:
    """The smallest (width, height) with the main stream's aspect that covers the model input.

    The width is a multiple of LORES_WIDTH_ALIGN and the height even (YUV420 needs it);
    the centre crop to the model's square happens later.
    """
    model_h, model_w = model_size
    main_w, main_h = main_size
    aspect = main_w / main_h
    needed = max(model_w, model_h * aspect)
    width = int(np.ceil(needed / LORES_WIDTH_ALIGN)) * LORES_WIDTH_ALIGN
    height = round(width / aspect / 2) * 2
    return width, height


def root_cause(exc: BaseException) -> BaseException:
    """picamera2 wraps open failures as "Camera __init__ sequence did not complete.": the cause."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def i420_to_rgb(array: np.ndarray, width: int, height: int, colour_space: Any) -> np.ndarray:
    """RGB (height, width, 3) from picamera2's YUV420 array, (height*3/2, stride) with padding."""
    if is_bt601_limited(colour_space):
        return cv2.cvtColor(array, cv2.COLOR_YUV2RGB_I420)[:, :width]  # OpenCV's own matrix
    stride = array.shape[1]
    flat = array.reshape(-1)
    half, rows = stride // 2, height // 2
    y = flat[: stride * height].reshape(height, stride)[:, :width].astype(np.float32)
    chroma = []
    for index in range(2):
        start = stride * height + index * half * rows
        plane = flat[start : start + half * rows].reshape(rows, half)[:, : width // 2]
        chroma.append(plane.repeat(2, axis=0).repeat(2, axis=1).astype(np.float32) - 128)
    kr, kb = (0.2126, 0.0722) if colour_space.ycbcrEncoding.name == "Rec709" else (0.299, 0.114)
    if colour_space.range.name == "Full":
        y, scale = y / 255, 1 / 255
    else:
        y, scale = (y - 16) / 219, 1 / 224
    cb, cr = chroma[0] * scale, chroma[1] * scale
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.dstack([r, g, b]) * 255 + 0.5, 0, 255).astype(np.uint8)


def is_bt601_limited(colour_space: Any) -> bool:
    return colour_space.ycbcrEncoding.name == "Rec601" and colour_space.range.name == "Limited"


class PiCameraSource(FrameSource):
    native_preview = True

    def __init__(
        self,
        model_size: tuple[int, int] = (172, 172),
        preview_size: tuple[int, int] = PREVIEW_SIZE,
        camera_fps: float = CAMERA_FPS,
        camera_index: int = 0,
        capture_timeout: float = CAPTURE_TIMEOUT_S,
        sample_fps: float = 5.0,
        autofocus: bool = True,
    ) -> None:
        self.name = f"picamera{camera_index}"
        self.model_size = model_size
        self.preview_size = preview_size
        self.camera_fps = camera_fps
        self.camera_index = camera_index
        self.capture_timeout = capture_timeout
        self.sample_fps = sample_fps
        #: Continuous autofocus on a camera with a focus lens (Camera Module 3): libcamera's
        #: default is manual focus at a fixed distance (rpicam-apps asks for continuous itself).
        self.autofocus = autofocus
        #: A preview shows the main stream (set by app/display/picamera_preview.py); without
        #: one only the small stream the model needs is made.
        self.displayed = False
        self.camera: Any = None  # the Picamera2 object, for the preview to share
        #: Called with the configured Picamera2 before it starts: picamera2's own preview
        #: must be started first, or start() runs a null one.
        self.on_configured: Callable[[Any], None] | None = None
        #: Called with the Picamera2 when no frame came within capture_timeout, before the
        #: SourceError: a preview can tell whether it killed picamera2's loop (AppError), or
        #: return True when the run is over (its window was closed): frames() then just ends.
        self.on_stalled: Callable[[Any], bool] | None = None
        self._stream = "main"
        self._geometry: tuple[int, int] = (0, 0)
        self._colour_space: Any = None
        self._frame_rate = camera_fps
        self._first_timestamp: int | None = None
        # Held while a request is in hand: close() waits for it to be released.
        self._request_lock = threading.Lock()

    @property
    def fps(self) -> float | None:
        """The frame rate the camera was configured for (lower when headless)."""
        return self._frame_rate

    def open(self) -> None:
        Picamera2 = import_picamera2()
        check_picamera2(Picamera2)
        from libcamera import ColorSpace

        try:
            pi, usb = pi_cameras(Picamera2)
        except Exception as exc:
            raise AppError(f"libcamera cannot list cameras: {exc}") from None
        if self.camera_index >= len(pi):
            if usb:
                raise AppError(
                    f"libcamera lists only a USB webcam ({usb[0].get('Model', '?')}), not a Pi camera: "
                    "use --source /dev/videoN (or auto) for it"
                )
            raise AppError("no Pi camera found: check the ribbon cable and that `rpicam-hello --list-cameras` lists it")
        try:
            camera = Picamera2(self.camera_index)
        except IndexError:  # the camera went away since the listing
            raise AppError("no Pi camera found: check the ribbon cable and `rpicam-hello --list-cameras`") from None
        except Exception as exc:
            release_leftover(Picamera2, pi[self.camera_index].get("Num", self.camera_index))
            cause = root_cause(exc)
            hint = ""
            if "busy" in str(cause).lower():
                hint = " (another program is using the camera: the other movinet service, rpicam-*, a desktop app)"
            raise AppError(f"cannot open the Pi camera {self.camera_index}: {cause}{hint}") from None
        try:
            camera.configure(self._configuration(camera, ColorSpace.Smpte170m()))
            self._read_back(camera)
            if self.on_configured is not None:
                self.on_configured(camera)
            camera.start()
        except BaseException as exc:
            # picamera2 registers close() with atexit, so an unclosed camera stays held and
            # every reopen fails as busy.
            try:
                camera.close()
            except Exception as close_error:
                log.warning("closing the Pi camera after a failed start: %s", close_error)
            if isinstance(exc, Exception) and not isinstance(exc, AppError):
                raise AppError(f"cannot start the Pi camera {self.camera_index}: {exc}") from None
            raise
        self._first_timestamp = None
        self.camera = camera

    def _controls(self, camera: Any, fps: float) -> dict[str, Any]:
        controls: dict[str, Any] = {"FrameRate": fps}
        if self.autofocus and "AfMode" in camera.camera_controls:  # a camera without a lens motor refuses it
            from libcamera import controls as libcamera_controls

            controls["AfMode"] = libcamera_controls.AfModeEnum.Continuous
        return controls

    def _configuration(self, camera: Any, colour_space: Any) -> dict[str, Any]:
        size = lores_size(self.model_size, self.preview_size)
        common = {"colour_space": colour_space, "buffer_count": BUFFER_COUNT, "raw": None, "encode": None}
        if self.displayed:
            return camera.create_video_configuration(
                main={"size": self.preview_size, "format": "XBGR8888"},
                lores={"size": size, "format": "YUV420"},
                controls=self._controls(camera, self.camera_fps),
                display="main",
                **common,
            )
        fps = min(self.camera_fps, max(HEADLESS_MIN_FPS, 2 * self.sample_fps))
        return camera.create_video_configuration(
            main={"size": size, "format": "YUV420"},
            controls=self._controls(camera, fps),
            display=None,
            # picamera2 picks the sensor mode by this size: the preview's, so the field of
            # view is the kiosk's, not a small cropped mode's.
            sensor={"output_size": self.preview_size},
            **common,
        )

    def _read_back(self, camera: Any) -> None:
        """What the camera chose: picamera2 adjusts sizes and only logs that it did."""
        config = camera.camera_configuration()
        self._stream = "lores" if config.get("lores") is not None else "main"
        stream = config[self._stream]
        if stream["format"] != "YUV420":
            raise AppError(f"the Pi camera gave {stream['format']} for the model's stream, not YUV420")
        self._geometry = stream["size"]
        self._colour_space = config["colour_space"]
        # libcamera holds the frame rate to what the sensor mode can do: its fastest frame
        # is FrameDurationLimits' minimum once configured (the first frame's FrameDuration
        # then says exactly).
        asked = float(config["controls"].get("FrameRate", CAMERA_FPS))
        fastest = camera.camera_controls.get("FrameDurationLimits", (0,))[0]
        self._frame_rate = min(asked, 1e6 / fastest) if fastest else asked
        focus = "continuous autofocus" if "AfMode" in config["controls"] else "fixed focus"
        log.info(
            "Pi camera %d (%s): %s stream %dx%d YUV420, stride %d, %s, %d buffers, %.3g fps, %s",
            self.camera_index,
            camera.camera_properties.get("Model", "?"),
            self._stream,
            *self._geometry,
            stream["stride"],
            self._colour_space,
            config["buffer_count"],
            self._frame_rate,
            focus,
        )

    def frames(self, keep: Keep) -> Iterator[Frame]:
        index = 0
        while (captured := self._capture()) is not None:
            camera, request = captured
            now = time.monotonic()
            with self._request_lock:
                try:
                    # close() may have run since the capture: its camera's buffers are gone.
                    if self.camera is not camera:
                        return
                    t = self._stream_time(request.get_metadata(), now)
                    array = request.make_array(self._stream) if keep(t) else None  # a copy
                finally:
                    request.release()  # back to the camera before anyone else sees the frame
            if array is not None:
                width, height = self._geometry
                yield Frame(index, t, i420_to_rgb(array, width, height, self._colour_space), "RGB", now)
            index += 1

    def _capture(self) -> tuple[Any, Any] | None:
        """(camera, its next completed request), or None once closed; SourceError when it stalls."""
        with self._request_lock:
            # Queued under the lock close() takes first, so a capture is either cancelled by
            # close() or never queued: none waits out the timeout on a closed camera.
            camera = self.camera
            if camera is None:
                return None
            job = camera.capture_request(wait=False)
        try:
            return camera, camera.wait(job, timeout=self.capture_timeout)
        except CancelledError:  # close() flushed the job: closed, not failed
            return None
        except CaptureTimeout:
            if self.camera is None:
                return None
            camera.cancel_all_and_flush()  # else the stale job swallows the next frame
            if self.on_stalled is not None and self.on_stalled(camera):
                return None
            raise SourceError(f"the Pi camera gave no frame for {self.capture_timeout:g} s") from None
        except Exception as exc:
            if self.camera is None:
                return None
            raise SourceError(f"Pi camera stopped: {exc}") from None

    def _stream_time(self, metadata: dict, now: float) -> float:
        """Seconds since the first frame, from the sensor's own timestamps when present."""
        stamp = metadata.get("SensorTimestamp")
        if stamp is None:
            stamp = int(now * 1e9)
        if self._first_timestamp is None:
            self._first_timestamp = stamp
            if duration := metadata.get("FrameDuration"):  # microseconds, what the sensor really did
                self._frame_rate = 1e6 / duration
        return (stamp - self._first_timestamp) / 1e9

    def close(self) -> None:
        """Safe from any thread, even while frames() waits on a stalled camera."""
        with self._request_lock:
            camera, self.camera = self.camera, None
        if camera is None:
            return
        camera.cancel_all_and_flush()  # a waiting capture ends with CancelledError
        with self._request_lock:
            # Picamera2.close() stops the preview (joining its event loop) before stopping
            # the camera, so the stop is not one more job queued behind a dead loop.
            camera.close()
        # With its last camera closed picamera2 drops libcamera's CameraManager; once the
        # old Picamera2 (a reference cycle) is collected, the next open enumerates afresh.
        del camera
        gc.collect()
