"""The project's own tests of the HTTP clients in tornado_compat.httpclient.

``test_httpclient_api`` covers the common interface (requests, responses,
errors, the per-loop client cache, defaults, ``raise_error``, the blocking
client and the command line) with a fake implementation that answers from a
table, so none of it needs the network.  The backends' tests come with them.
"""
