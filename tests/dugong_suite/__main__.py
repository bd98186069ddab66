import sys

from tests.dugong_suite.run import main

sys.exit(main())
