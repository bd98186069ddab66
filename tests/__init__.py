"""The project's tests; also a package so that ``python -m tests.conformance`` works."""
