"""`python -m app.service install|uninstall NAME`: see app/service/cli.py."""

import sys

from app.service.cli import main

sys.exit(main())
