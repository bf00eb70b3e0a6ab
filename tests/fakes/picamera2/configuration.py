"""Stand-in for picamera2.py's configuration helpers (create_video_configuration, align_stream,
check_camera_config), mixed into Picamera2."""

from __future__ import annotations

from typing import Any

from libcamera import ColorSpace

from .platform import Platform, get_platform

_RGB_FORMATS = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4}
_YUV_FORMATS = ("YUV420", "YVU420", "NV12", "NV21", "YUYV")


def _stride(fmt: str, width: int) -> int:
    """Bytes a row, aligned as picamera2.py: align_stream says the ISP aligns planes."""
    align = 32 if get_platform() == Platform.VC4 else 64
    if fmt in ("YUV420", "YVU420"):
        return 2 * (-(-(width // 2) // align) * align)
    return -(-(width * _RGB_FORMATS.get(fmt, 2)) // align) * align


class Configuring:
    """The configuration half of Picamera2 (the class mixes this in)."""

    # -- configuration ------------------------------------------------------------------
    @staticmethod
    def _stream(defaults: dict[str, Any], updates: dict[str, Any] | None) -> dict[str, Any] | None:
        """picamera2.py: _make_initial_stream_config."""
        if updates is None:
            return None
        for key, value in updates.items():
            if key not in ("format", "size", "stride", "preserve_ar"):
                raise ValueError(
                    f"Bad key {key!r}: valid stream configuration keys are ('format', 'size', 'stride', 'preserve_ar')"
                )
            defaults[key] = value
        return defaults

    def create_video_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = {},  # noqa: B006  picamera2's own default: a raw stream
        transform: Any = None,
        colour_space: ColorSpace | None = None,
        buffer_count: int = 6,
        controls: dict[str, Any] | None = None,
        display: str | None = "main",
        encode: str | None = "main",
        queue: bool = True,
        sensor: dict[str, Any] | None = {},  # noqa: B006
        use_case: str = "video",
    ) -> dict[str, Any]:
        """picamera2.py: create_video_configuration."""
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        if not self._is_rpi_camera():
            raw = sensor = None
        main_cfg = self._stream({"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True}, main or {})
        assert main_cfg is not None
        self.align_stream(main_cfg, optimal=False)
        lores_cfg = self._stream({"format": "YUV420", "size": main_cfg["size"], "preserve_ar": False}, lores)
        if lores_cfg is not None:
            self.align_stream(lores_cfg, optimal=False)
        raw_cfg = self._stream({"format": "SBGGR10_CSI2P", "size": main_cfg["size"]}, raw)
        if colour_space is None:
            small = main_cfg["size"][0] < 1280 or main_cfg["size"][1] < 720
            colour_space = ColorSpace.Smpte170m() if small else ColorSpace.Rec709()
        all_controls = dict(controls or {})
        if self._is_rpi_camera():
            all_controls = {"NoiseReductionMode": 1, "FrameDurationLimits": (33333, 33333)} | all_controls
        for name in (display, encode):
            if name is not None and {"main": main_cfg, "lores": lores_cfg}.get(name) is None:
                raise RuntimeError(f"Display stream {name} was not defined")
        return {
            "use_case": use_case,
            "transform": transform,
            "colour_space": colour_space,
            "buffer_count": buffer_count,
            "queue": queue,
            "main": main_cfg,
            "lores": lores_cfg,
            "raw": raw_cfg,
            "controls": all_controls,
            "sensor": sensor,
            "display": display,
            "encode": encode,
        }

    @staticmethod
    def align_stream(stream_config: dict[str, Any], optimal: bool = True) -> None:
        """picamera2.py: align_stream."""
        if optimal:
            align = 32 if get_platform() == Platform.VC4 else 64
            if stream_config["format"] in ("YUV420", "YVU420"):
                align *= 2
            elif stream_config["format"] in ("XBGR8888", "XRGB8888"):
                align //= 2
        else:
            align = 2
        width, height = stream_config["size"]
        stream_config["size"] = (width - width % align, height - height % 2)

    @staticmethod
    def align_configuration(config: dict[str, Any], optimal: bool = True) -> None:
        Configuring.align_stream(config["main"], optimal=optimal)
        if config.get("lores") is not None:
            Configuring.align_stream(config["lores"], optimal=optimal)

    def _check_stream(self, stream: Any, name: str) -> None:
        """picamera2.py: check_stream_config."""
        if type(stream) is not dict:
            raise RuntimeError(name + " stream should be a dictionary")
        fmt, size = stream.get("format"), stream.get("size")
        if fmt not in _RGB_FORMATS and fmt not in _YUV_FORMATS and not (name == "raw" and fmt):
            raise RuntimeError(f"Bad format {fmt} in stream {name}")
        if type(size) is not tuple or len(size) != 2:
            raise RuntimeError("size in " + name + " stream should be (width, height)")
        if size[0] % 2 or size[1] % 2:
            raise RuntimeError("width and height should be even")

    def check_camera_config(self, config: dict[str, Any]) -> None:
        """picamera2.py: check_camera_config."""
        for name in ("colour_space", "transform", "main", "lores", "raw"):
            if name not in config:
                raise RuntimeError(f"{name!r} key expected in camera configuration")
        if not isinstance(config["colour_space"], ColorSpace):
            raise RuntimeError("Colour space has incorrect type")
        self._check_stream(config["main"], "main")
        if config["lores"] is not None:
            self._check_stream(config["lores"], "lores")
            main_w, main_h = config["main"]["size"]
            lores_w, lores_h = config["lores"]["size"]
            if lores_w > main_w or lores_h > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if get_platform() == Platform.VC4 and config["lores"]["format"] not in _YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")
        if config["raw"] is not None:
            self._check_stream(config["raw"], "raw")
