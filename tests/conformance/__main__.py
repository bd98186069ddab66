"""Entry point for ``python -m tests.conformance``; the runner is in run.py."""

import sys

from tests.conformance.run import main

sys.exit(main())
