"""Live action recognition on the Raspberry Pi with MoViNet-Stream TFLite models."""

__version__ = "0.1.0"
