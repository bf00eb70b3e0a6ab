"""A stand-in for picamera2 (raspberrypi/picamera2), the one piece of hardware this machine lacks.

It is written from picamera2's and libcamera's own source, so that code which works
against it has a fair chance on a Pi. Each part names what it mirrors
(file: function); this file is Picamera2 itself, the rest sits beside it like
picamera2's own (configuration.py, job.py, request.py, previews.py, manager.py) plus
sensors.py and versions.py. What it keeps of the real thing:

* Enumeration (picamera2.py: Picamera2.global_camera_info, Picamera2.__init__): libcamera
  lists USB webcams too (their Id contains "/usb"), sorted to the back; `Picamera2(n)`
  indexes that list first, so with no camera it raises a bare IndexError.
* Opening (picamera2.py: Picamera2.__init__, _open_camera; libcamera camera.cpp:
  Camera::acquire): a camera held by another process or by an unclosed Picamera2 in this
  one fails with RuntimeError("Camera __init__ sequence did not complete.") whose
  __cause__ is "Failed to acquire camera: Device or resource busy". The notify pipe is
  opened and the object registered with the class-level CameraManager (manager.py) first,
  and close() of a camera that never opened returns before closing the pipe, so a failed
  open leaves both behind. A successful open registers close() with atexit, which keeps
  the object (and the camera) alive. close() swaps in a fresh allocator, so make_array on
  a request captured before it raises RuntimeError("failed to find buffer").
* Releases (versions.py): FAKE_PICAMERA_VERSION plays an old picamera2, e.g. 0.3.19 (no
  cancel_all_and_flush, capture_request(wait=SECONDS) waits for ever) or 0.3.12.
* Configurations (picamera2.py: create_video_configuration, align_stream,
  check_camera_config, configure_, _update_camera_config; libcamera
  pipeline/rpi/common/pipeline_base.cpp: RPiCameraConfiguration::validateColorSpaces):
  video defaults (XBGR8888 1280x720 main, YUV420 lores, 6 buffers, 30 fps frame
  durations), Rec709 for a main stream of at least 1280x720 and Smpte170m below, one
  colour space shared by all streams (the first stream's), "lores stream must be YUV"
  on a Pi 4 (VC4), "lores stream dimensions may not exceed main stream", and after
  configure() the size, format, stride and colour space the camera chose written back
  into the configuration (configure() copies only the top level, like the real one).
  FAKE_PICAMERA_ADJUST="lores=WxH" makes the camera adjust a stream, as libcamera's
  validate() may (e.g. pisp.cpp: PiSPCameraData::platformValidate's minimum sizes);
  picamera2 then only logs "Camera configuration has been adjusted!".
* Memory layout (request.py: Helpers._make_array_shared, CompletedRequest.make_array):
  "RGB888" is B,G,R bytes, "XBGR8888" is R,G,B,X bytes, "YUV420" is (height*3/2, stride)
  with the stride's padding kept (RGB arrays have theirs sliced off). Strides are
  aligned as picamera2.py: align_stream says the hardware does (32 bytes on VC4, 64 on
  PiSP, YUV420's chroma rows aligned too, so its luma stride twice that).
* Colour (libcamera color_space.cpp presets): YUV420 is encoded with the configured
  colour space's matrix and range (Rec601/Rec709, limited/full), the standards' printed
  8-bit equations, not the app's Kr/Kb derivation; RGB streams are the scene's RGB.
  FAKE_PICAMERA_COLOUR_SPACE (Sycc, Smpte170m, Rec709) is the one the camera settles on.
* The event loop and jobs (picamera2.py: dispatch_functions, process_requests,
  capture_request, wait, cancel_all_and_flush, stop, close; job.py: Job; previews/
  null_preview.py): a thread per started preview hands completed requests to queued jobs
  strictly in order; capture_request() without `wait` blocks until a frame completes,
  with `wait=SECONDS` it raises concurrent.futures.TimeoutError, and a cancelled job
  raises CancelledError. stop() from another thread is itself a job behind the others.
  Buffers (configure_'s buffer_count, _max_queue_len; CompletedRequest.acquire/release;
  previews hold the frame shown): a frame needs a free buffer, so a request held by the
  app stalls the camera once the preview and the queue hold the rest.
* Stalls (libcamera pipeline_base.cpp: CameraData::cameraTimeout): the frontend times
  out and the outstanding requests come back cancelled, which picamera2.py:
  CameraManager.handle_request drops; no frame arrives again from that Picamera2.
  FAKE_PICAMERA_STALL_AFTER=N stalls the first camera opened after N frames (a wobbly
  cable: the next Picamera2 works); tests may also set `camera.fake_stalled = True`.
* Previews (previews/drm_preview.py: DrmPreview.render_drm, set_overlay;
  previews/qt_previews.py, q_gl_picamera2.py): the DRM plane is reserved on the first
  frame in the event-loop thread, so FAKE_PICAMERA_DRM=no-plane raises "Failed to
  reserve DRM plane" there and kills the loop (start_preview succeeds); DRM overlays
  before the first frame raise "Overlays not supported on this device". Qt GL needs an X
  display: without $DISPLAY Qt's xcb plugin aborts the whole process, as here.

Tests set FAKE_PICAMERA_COLOUR (R,G,B; FAKE_PICAMERA_SCENE=halves puts the colour on
the left half and its complement on the right), FAKE_PICAMERA_PLATFORM (VC4 or PISP),
FAKE_PICAMERA_CAMERAS (comma list of "imx708", "imx219" and "usb"; empty for none),
FAKE_PICAMERA_BUSY=1 (another process holds the camera), FAKE_PICAMERA_FAIL
(configure or start) and FAKE_PICAMERA_IMPORT=abi (the import fails as a numpy ABI
mismatch does), and read `Picamera2.instances` back.
"""

from __future__ import annotations

import os

if os.environ.get("FAKE_PICAMERA_IMPORT") == "abi":
    # picamera2/__init__.py imports request.py, which imports simplejpeg: built against
    # another numpy, its import fails like this (numpy 1 vs 2 also gives AttributeError
    # "_ARRAY_API not found"), not with an ImportError.
    raise ValueError(
        "numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, got 88 from PyObject"
    )

import atexit
import sys
import threading
import time
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as TimeoutError
from typing import Any, ClassVar

import numpy as np
from libcamera import ColorSpace

from . import sensors, versions
from .configuration import Configuring, _stride
from .job import Job
from .manager import CameraManager
from .platform import Platform, get_platform
from .previews import Preview, _Preview
from .request import CompletedRequest
from .settings import env as _env

__all__ = [
    "CancelledError",
    "CompletedRequest",
    "Job",
    "Picamera2",
    "Platform",
    "Preview",
    "TimeoutError",
    "get_platform",
]

_ACQUIRED: set[int] = set()  # cameras this process holds (libcamera Camera::acquire)


class Picamera2(Configuring):
    _cm = CameraManager()
    instances: ClassVar[list[Picamera2]] = []
    _stalls_left: ClassVar[int] = 1  # FAKE_PICAMERA_STALL_AFTER applies to the first camera only

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        """picamera2.py: global_camera_info. USB cameras sorted to the back."""
        return sorted(sensors.camera_list(), key=lambda cam: ("/usb" not in cam["Id"], cam["Id"]), reverse=True)

    def __init__(self, camera_num: int = 0) -> None:
        self.is_open = False
        self._preview: _Preview | None = None
        self._event_loop_running = False
        # picamera2.py: __init__ opens the notify pipe and registers before opening the camera.
        self.notifyme_r, self.notifyme_w = os.pipe2(os.O_NONBLOCK)
        self.notifymeread = os.fdopen(self.notifyme_r, "rb")
        info = self.global_camera_info()[camera_num]  # IndexError with no camera, as picamera2.py: __init__
        self.camera_idx = info["Num"]
        self.info = info
        self._cm.add(self.camera_idx, self)
        try:
            self._open_camera()
        except Exception as exc:
            raise RuntimeError("Camera __init__ sequence did not complete.") from exc
        atexit.register(self.close)  # picamera2.py: __init__ (this keeps an unclosed camera held)
        self.lock = threading.Lock()  # protects the job list and completed_requests
        self.request_lock = threading.Lock()
        self._wake = threading.Event()
        self.camera_config: dict[str, Any] = {}
        self.controls: dict[str, Any] = {}
        self.configure_count = 0
        self.stop_count = 0
        self.started = False
        self.closed = False
        self._job_list: list[Job] = []
        self.completed_requests: list[CompletedRequest] = []
        self.app_requests: set[CompletedRequest] = set()  # handed out by capture_request, unreleased
        self.free_buffers = 0
        self.frames = 0
        self.sensor_ns = 1_000_000_000
        self.fake_stalled = False
        self._stall_after: int | None = None
        if _env("STALL_AFTER") and Picamera2._stalls_left:
            Picamera2._stalls_left -= 1
            self._stall_after = int(_env("STALL_AFTER"))
        self.previews: list[tuple[str, dict[str, Any]]] = []
        self.overlays: list[np.ndarray] = []
        self.overlay_threads: list[str] = []
        self.max_app_requests = 0  # most requests the app held at once
        Picamera2.instances.append(self)

    def _open_camera(self) -> None:
        """picamera2.py: _open_camera -> libcamera Camera::acquire (camera.cpp)."""
        if _env("BUSY") == "1":
            print("ERROR Camera camera.cpp:1022 Pipeline handler in use by another process", file=sys.stderr)
        if _env("BUSY") == "1" or self.camera_idx in _ACQUIRED:
            raise RuntimeError("Failed to acquire camera: Device or resource busy")
        _ACQUIRED.add(self.camera_idx)
        self.is_open = True

    @property
    def camera_properties(self) -> dict[str, Any]:
        properties = {"Model": self.info["Model"], "Location": self.info["Location"]}
        if "/usb" not in self.info["Id"]:
            properties["ColorFilterArrangement"] = 0  # how _is_rpi_camera tells a Pi camera
        return properties

    def _is_rpi_camera(self) -> bool:
        return "ColorFilterArrangement" in self.camera_properties

    @property
    def camera_controls(self) -> dict[str, tuple[Any, Any, Any]]:
        """picamera2.py: camera_controls (sensors.py): (min, max, default) of each control."""
        return sensors.camera_controls(self.info["Model"], self._is_rpi_camera())

    def _check_controls(self, controls: dict[str, Any]) -> None:
        """controls.py: Controls.__setattr__ (FrameRate is picamera2's name for FrameDurationLimits)."""
        for name in controls:
            if name != "FrameRate" and name not in self.camera_controls:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")

    def set_controls(self, controls: dict[str, Any]) -> None:
        self._check_controls(controls)
        self.controls |= controls

    def configure(self, camera_config: dict[str, Any]) -> None:
        """picamera2.py: configure_. Checks, lets the camera adjust, and writes back what it chose."""
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        config = camera_config.copy()  # the top level only: stream dicts are updated in place
        if not self._is_rpi_camera():
            config["raw"] = None
        self.camera_config = {}
        self.check_camera_config(config)
        # pipeline_base.cpp: validateColorSpaces: the first stream's valid colour space for all.
        shared = config["colour_space"]
        if shared not in (ColorSpace.Sycc(), ColorSpace.Smpte170m(), ColorSpace.Rec709()):
            shared = ColorSpace.Sycc()
        if _env("COLOUR_SPACE"):  # the camera settles on another (a sensor or ISP that cannot do the one asked)
            shared = getattr(ColorSpace, _env("COLOUR_SPACE"))()
        config["colour_space"] = shared
        adjust = dict(item.split("=") for item in _env("ADJUST").split(";") if item)
        for name in ("main", "lores"):
            stream = config[name]
            if stream is None:
                continue
            if name in adjust:
                stream["size"] = tuple(int(v) for v in adjust[name].split("x"))
            stream["stride"] = _stride(stream["format"], stream["size"][0])
            rows = stream["size"][1] * 3 // 2 if stream["format"] in ("YUV420", "YVU420") else stream["size"][1]
            stream["framesize"] = stream["stride"] * rows
        if _env("FAIL") == "configure":
            raise RuntimeError(f"Configuration failed: {config}")
        self._max_queue_len = 1 if config["queue"] and config["buffer_count"] > 1 else 0
        self.camera_config = config
        self._check_controls(config["controls"])
        self.controls = dict(config["controls"])
        self.configure_count += 1

    def camera_configuration(self) -> dict[str, Any]:
        return self.camera_config

    def stream_configuration(self, name: str = "main") -> dict[str, Any]:
        return self.camera_config[name]

    @property
    def configuration(self) -> dict[str, Any]:
        """For tests: what configure() settled on."""
        return self.camera_config

    def _frame_interval(self) -> float:
        """controls.py: FrameRate is FrameDurationLimits in microseconds; the later key wins.
        libcamera holds it to the sensor mode's fastest frame."""
        interval = 1 / 30
        for name, value in self.controls.items():
            if name == "FrameRate":
                interval = 1 / float(value)
            elif name == "FrameDurationLimits":
                interval = value[1] / 1e6
        return max(interval, self.camera_controls["FrameDurationLimits"][0] / 1e6)

    # -- running ------------------------------------------------------------------------
    def attach_preview(self, preview: _Preview) -> None:
        if self._preview:
            raise RuntimeError("Preview is already running")
        self._preview = preview
        self._event_loop_running = True

    def detach_preview(self) -> None:
        self._preview = None
        self._event_loop_running = False

    def start_preview(self, preview: Any = None, **kwargs: Any) -> None:
        """picamera2.py: start_preview. Nothing is reserved on screen until the first frame."""
        if self._event_loop_running:
            raise RuntimeError("An event loop is already running")
        kind = "NULL" if preview in (None, False) else Preview(getattr(preview, "value", preview)).value
        if kind in ("QT", "QTGL") and not os.environ.get("DISPLAY"):
            # Qt's xcb platform plugin (picamera2/__init__.py forces it on Wayland sessions).
            print("qt.qpa.xcb: could not connect to display", file=sys.stderr, flush=True)
            os.abort()
        self.previews.append((kind, kwargs))
        _Preview(kind).start(self)

    def fake_close_window(self) -> None:
        """The user closes a Qt preview's window: the preview stops and detaches itself."""
        assert self._preview is not None and self._preview.kind in ("QT", "QTGL")
        self._preview.stop(self)

    def stop_preview(self) -> None:
        if self._preview is None:
            raise RuntimeError("No preview specified.")
        self._preview.stop(self)

    def start(self, config: Any = None, show_preview: Any = False) -> None:
        """picamera2.py: start -> start_preview(NULL) if no loop runs, then start_."""
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        if show_preview is not None and not self._event_loop_running:
            self.start_preview(show_preview)
        if _env("FAIL") == "start":
            raise RuntimeError("Failed to start camera: Input/output error")
        if self.started:
            return
        self.free_buffers = self.camera_config["buffer_count"]
        self.started = True

    def _event_loop(self, abort: threading.Event) -> None:
        """null_preview.py: thread_func + process_requests, one frame per frame interval."""
        next_frame = time.monotonic()
        while not abort.is_set():
            self._wake.wait(max(0.0, next_frame - time.monotonic()))
            self._wake.clear()
            if abort.is_set():
                return
            request = None
            if time.monotonic() >= next_frame:
                next_frame += self._frame_interval()
                request = self._complete_frame()
            self._process_requests(request)

    def _complete_frame(self) -> CompletedRequest | None:
        if not self.started:
            return None
        if self._stall_after is not None and self.frames >= self._stall_after:
            self.fake_stalled = True
        if self.fake_stalled:
            # cameraTimeout(): the queued requests come back cancelled and are dropped.
            self.free_buffers = 0
            return None
        with self.request_lock:
            if self.free_buffers == 0:
                return None  # every buffer is held: libcamera has nothing to fill
            self.free_buffers -= 1
        self.sensor_ns += int(self._frame_interval() * 1e9)
        self.frames += 1
        return CompletedRequest(self, self.sensor_ns)

    def _process_requests(self, request: CompletedRequest | None) -> None:
        """picamera2.py: process_requests."""
        with self.lock:
            if request is not None:
                request.acquire()
                self.completed_requests.append(request)
                request.acquire()  # the display's use
            finished = []
            while self._job_list:
                if self._job_list[0].execute():
                    finished.append(self._job_list.pop(0))
                else:
                    break
            if request is not None:
                request.release()
            while len(self.completed_requests) > self._max_queue_len:
                self.completed_requests.pop(0).release()
        if request is not None:
            try:
                if self._preview is not None and request.stop_count == self.stop_count:
                    self._preview.render_request(request)
            finally:
                request.release()
        for job in finished:
            job.signal()

    def dispatch_functions(
        self, functions: list[Any], wait: Any, signal_function: Any = None, immediate: bool = False
    ) -> Any:
        """picamera2.py: dispatch_functions. Jobs run in the order they were queued."""
        if wait is None:
            wait = signal_function is None
        timeout = None if wait is True or not versions.bounded_waits() else wait
        with self.lock:
            only_job = not self._job_list
            job = Job(functions)
            self._job_list.append(job)
            if only_job and (self.completed_requests or immediate):
                self._wake.set()
        return job.get_result(timeout=timeout) if wait else job

    def _capture_request_(self) -> tuple[bool, Any]:
        if not self.completed_requests:
            return False, None
        request = self.completed_requests.pop(0)
        self.app_requests.add(request)
        self.max_app_requests = max(self.max_app_requests, len(self.app_requests))
        return True, request

    def capture_request(self, wait: Any = None, signal_function: Any = None, flush: Any = None) -> Any:
        """picamera2.py: capture_request: blocks for a frame unless `wait` bounds it."""
        return self.dispatch_functions([self._capture_request_], wait, signal_function)

    def wait(self, job: Job, timeout: float | None = None) -> Any:
        return job.get_result(timeout=timeout)

    def cancel_all_and_flush(self) -> None:
        """picamera2.py: cancel_all_and_flush."""
        with self.lock:
            for job in self._job_list:
                job.cancel()
            self._job_list = []

    def stop_(self, request: Any = None) -> tuple[bool, None]:
        if self.started:
            self.stop_count += 1
            self.started = False
            while self.completed_requests:
                self.completed_requests.pop(0).release()
        return True, None

    def stop(self) -> None:
        """picamera2.py: stop. With a loop running, a job queued behind the others."""
        if not self.started:
            return
        if self._preview is not None and self._event_loop_running:
            self.dispatch_functions([self.stop_], wait=True, immediate=True)
        else:
            self.stop_()

    def set_overlay(self, overlay: np.ndarray | None) -> None:
        if self._preview is None:
            raise RuntimeError("No preview specified.")
        if overlay is not None and (overlay.ndim != 3 or overlay.shape[2] != 4):
            raise RuntimeError("Overlay must be a 4-channel image")
        self._preview.set_overlay(overlay)
        self.overlays.append(None if overlay is None else np.array(overlay))
        self.overlay_threads.append(threading.current_thread().name)

    def close(self) -> None:
        """picamera2.py: close: the preview first (joining its thread), then stop, release.

        A camera that never opened returns before the notify pipe is closed, as the real one.
        Closing swaps in a fresh allocator, so a request still in hand finds no buffer.
        """
        atexit.unregister(self.close)
        if self._preview:
            self.stop_preview()
        if not self.is_open:
            return
        self.stop()
        _ACQUIRED.discard(self.camera_idx)
        self._cm.cleanup(self.camera_idx)
        self.is_open = False
        self.closed = True
        self.notifymeread.close()
        os.close(self.notifyme_w)


versions.apply(Picamera2)
