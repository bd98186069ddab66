"""Entry point for ``python -m tests.apps``; the runner is in run.py."""

import sys

from tests.apps.run import main

sys.exit(main())
