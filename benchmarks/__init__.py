"""tornado_compat's benchmark suite: ``python -m benchmarks`` (see docs/benchmarks.md).

Every contender runs in a fresh process of its own, started from here:
``benchmarks.servers`` (the servers under wrk), ``benchmarks.clients`` (the
HTTP clients against nginx) and ``benchmarks.idle`` (the holder of idle
connections).  ``benchmarks.run`` runs the comparisons, ``benchmarks.tools``
holds the machinery (system tools, nginx, wrk, child processes) and
``benchmarks.report`` the tables, results file and chart.
"""
