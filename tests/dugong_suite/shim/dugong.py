"""``import dugong`` gives tornado_compat.httpclient.connection (the dugong
suite's runner puts this folder on PYTHONPATH)."""

import sys

import tornado_compat.httpclient.connection as _connection

sys.modules[__name__] = _connection
