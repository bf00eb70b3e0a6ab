"""A stand-in for libcamera's Python bindings: just the ColorSpace that picamera2 and the app use.

Mirrors libcamera src/py/libcamera/py_color_space.cpp (the class, its four fields and
the static presets) and picamera2/__init__.py, which makes ColorSpace compare by those
fields. The presets' values are libcamera's src/libcamera/color_space.cpp:
Sycc = Rec709 primaries, sRGB transfer, Rec601 matrix, full range (JPEG);
Smpte170m = Smpte170m primaries, Rec709 transfer, Rec601 matrix, limited range;
Rec709 = Rec709 primaries, Rec709 transfer, Rec709 matrix, limited range.
"""

from __future__ import annotations

from enum import Enum


class ColorSpace:
    class Primaries(Enum):
        Raw = 0
        Smpte170m = 1
        Rec709 = 2
        Rec2020 = 3

    class TransferFunction(Enum):
        Linear = 0
        Srgb = 1
        Rec709 = 2

    class YcbcrEncoding(Enum):
        Null = 0
        Rec601 = 1
        Rec709 = 2
        Rec2020 = 3

    class Range(Enum):
        Full = 0
        Limited = 1

    def __init__(self, primaries, transferFunction=None, ycbcrEncoding=None, range=None) -> None:
        if isinstance(primaries, ColorSpace):  # the copy constructor
            primaries, transferFunction, ycbcrEncoding, range = (
                primaries.primaries,
                primaries.transferFunction,
                primaries.ycbcrEncoding,
                primaries.range,
            )
        self.primaries = primaries
        self.transferFunction = transferFunction
        self.ycbcrEncoding = ycbcrEncoding
        self.range = range

    @staticmethod
    def Raw() -> ColorSpace:
        c = ColorSpace
        return c(c.Primaries.Raw, c.TransferFunction.Linear, c.YcbcrEncoding.Null, c.Range.Full)

    @staticmethod
    def Sycc() -> ColorSpace:
        c = ColorSpace
        return c(c.Primaries.Rec709, c.TransferFunction.Srgb, c.YcbcrEncoding.Rec601, c.Range.Full)

    @staticmethod
    def Smpte170m() -> ColorSpace:
        c = ColorSpace
        return c(c.Primaries.Smpte170m, c.TransferFunction.Rec709, c.YcbcrEncoding.Rec601, c.Range.Limited)

    @staticmethod
    def Rec709() -> ColorSpace:
        c = ColorSpace
        return c(c.Primaries.Rec709, c.TransferFunction.Rec709, c.YcbcrEncoding.Rec709, c.Range.Limited)

    def _fields(self) -> tuple:
        return self.primaries, self.transferFunction, self.ycbcrEncoding, self.range

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColorSpace) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __str__(self) -> str:
        for name in ("Raw", "Sycc", "Smpte170m", "Rec709"):
            if self == getattr(ColorSpace, name)():
                return f"<libcamera.ColorSpace '{name}'>"
        return f"<libcamera.ColorSpace '{'/'.join(f.name for f in self._fields())}'>"

    __repr__ = __str__


class controls:  # libcamera's module of control enums (py_enums.cpp: AfModeEnum)
    class AfModeEnum:
        Manual = 0
        Auto = 1
        Continuous = 2
