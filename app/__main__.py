"""`python -m app`: see app/cli.py."""

import faulthandler
import os
import sys

# Before numpy loads: OpenBLAS's threads spin against the model's on a busy CPU, which made
# `teach fit`'s small matrix products 30x slower here (its own arrays are too small to share).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from app.cli import main

# A crash in native code (a runtime's illegal instruction, a segfault) prints where in
# the app it happened instead of only the shell's one word.
faulthandler.enable()
sys.exit(main())
