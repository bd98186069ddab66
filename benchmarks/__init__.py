"""tornado_compat's benchmark suite: ``python -m benchmarks`` (see docs/benchmarks.md).

Every contender runs in a fresh process of its own, started from here:
``benchmarks.servers`` (the servers under wrk), ``benchmarks.clients`` (the
HTTP clients against nginx), ``benchmarks.idle`` (the holder of idle
connections), ``benchmarks.cycles`` (the maker of short connections) and the
applications of ``benchmarks/apps`` (the drain comparison's servers).
``benchmarks.run`` runs the comparisons, ``benchmarks.churn`` and
``benchmarks.drain`` two of them (which also run alone),
``benchmarks.tools`` holds the machinery (system tools, nginx, wrk, child
processes) and ``benchmarks.report`` the tables, results file and chart.
"""
