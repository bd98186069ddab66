"""dugong's own test suite run on tornado_compat.httpclient.connection; see
:mod:`tests.dugong_suite.run`."""
