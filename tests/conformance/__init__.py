"""Tornado's own test suite run against tornado_compat; see run.py."""
