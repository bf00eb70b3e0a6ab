"""Which /dev/video* is a camera: what each node answers to VIDIOC_QUERYCAP decides.

The answers below are what the kernel's drivers report on a Pi 4 with a camera module
and a USB webcam: the CSI receiver (unicam) takes /dev/video0, the codecs and the ISP
sit at 10-23, and the webcam comes after (with a metadata node of its own).
"""

from __future__ import annotations

import struct

import pytest

from app import sources
from app.sources import v4l2

CAPTURE, OUTPUT, M2M, META, DEVICE_CAPS, STREAMING = 0x1, 0x2, 0x8000, 0x00800000, 0x80000000, 0x04000000


def querycap(driver: str, card: str, device_caps: int) -> bytes:
    """struct v4l2_capability as the kernel fills it (capabilities covers every node of the device)."""
    return struct.pack(
        v4l2.QUERYCAP_FORMAT,
        driver.encode(),
        card.encode(),
        b"platform:test",
        0x060600,
        device_caps | CAPTURE | OUTPUT | DEVICE_CAPS,
        device_caps,
        0,
        0,
        0,
    )


PI4_NODES = {
    "/dev/video0": querycap("unicam", "unicam", CAPTURE | STREAMING),
    "/dev/video10": querycap("bcm2835-codec", "bcm2835-codec-decode", M2M | STREAMING),
    "/dev/video13": querycap("bcm2835-isp", "bcm2835-isp", OUTPUT | STREAMING),
    "/dev/video14": querycap("bcm2835-isp", "bcm2835-isp", CAPTURE | STREAMING),
    "/dev/video1": querycap("uvcvideo", "HD Webcam C270", CAPTURE | STREAMING),
    "/dev/video2": querycap("uvcvideo", "HD Webcam C270", META | STREAMING),
}


def test_a_pi_s_codec_isp_and_csi_nodes_are_not_cameras(monkeypatch):
    monkeypatch.setattr(v4l2, "video_nodes", lambda: sorted(PI4_NODES, key=lambda d: int(d.removeprefix("/dev/video"))))
    monkeypatch.setattr(v4l2, "query", lambda node: v4l2.Capability.parse(PI4_NODES[node]))
    assert v4l2.capture_devices() == ["/dev/video1"]
    assert sources.first_v4l2_device() == "/dev/video1", "not /dev/video0, the CSI receiver"


@pytest.mark.parametrize(
    ("driver", "caps", "camera"),
    [
        ("uvcvideo", CAPTURE, True),
        ("uvcvideo", META, False),
        ("bcm2835-codec", M2M, False),
        ("rp1-cfe", CAPTURE, False),
        ("pispbe", CAPTURE, False),
        ("bcm2835-v4l2", CAPTURE, True),  # the legacy camera stack's driver is a camera
    ],
)
def test_capability(driver, caps, camera):
    assert v4l2.Capability.parse(querycap(driver, "card", caps)).is_camera is camera


def test_a_node_that_is_not_v4l2_tells_nothing():
    assert v4l2.query("/dev/null") is None
    assert v4l2.query("/dev/video-that-does-not-exist") is None
