"""`python -m app`: see app/cli.py."""

import faulthandler
import sys

from app.cli import main

# A crash in native code (a runtime's illegal instruction, a segfault) prints where in
# the app it happened instead of only the shell's one word.
faulthandler.enable()
sys.exit(main())
