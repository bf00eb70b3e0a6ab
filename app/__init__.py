"""Live action recognition on the Raspberry Pi with MoViNet-Stream TFLite models."""

import os

# OpenCV logs its own `[ WARN:0@0.9] ... can't open camera by index` lines, and FFmpeg
# inside it its complaints ("moov atom not found"), straight to stderr, ahead of the
# app's one-line error that says it better. Both are read when cv2 first needs them, so
# they are set here, before any module imports cv2. Only log lines are silenced: a
# crash still shows. Set either variable to see them (e.g. OPENCV_LOG_LEVEL=DEBUG).
os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__version__ = "0.1.0"
