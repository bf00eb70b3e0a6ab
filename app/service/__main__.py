"""`python -m app.service install|uninstall NAME`: see app/service/install.py."""

import sys

from app.service.install import main

sys.exit(main())
