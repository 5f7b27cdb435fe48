"""``python -m specwire``."""

import sys

from specwire.cli import main

sys.exit(main())
