"""Runs real applications' own test suites on Tornado and on tornado_compat."""
