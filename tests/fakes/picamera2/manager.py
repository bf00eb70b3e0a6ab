"""Stand-in for picamera2.py: CameraManager, the class-level registry every Picamera2 joins.

Picamera2.__init__ opens its notify pipe and registers itself here *before* opening the
camera, and close() returns early for a camera that never opened, so a failed open (a
busy camera) leaves the pipe open and the object registered: one file descriptor lost
per try, as on a Pi. (The real manager also runs a thread listening to libcamera.)
"""

from __future__ import annotations

from typing import Any


class CameraManager:
    def __init__(self) -> None:
        self.running = False
        self.cameras: dict[int, Any] = {}

    def add(self, index: int, camera: Any) -> None:
        self.cameras[index] = camera
        self.running = True

    def cleanup(self, index: int) -> None:
        del self.cameras[index]
        if not self.cameras:
            self.running = False
