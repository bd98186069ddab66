"""``python -m benchmarks``: run every comparison (see docs/benchmarks.md)."""

import sys

from benchmarks.run import main

sys.exit(main())
