"""The project's own tests of HTTPServer, over real sockets on 127.0.0.1.

The server runs on a real event loop (asyncio's default and uvloop) and the
tests talk to it with raw sockets, so that they control every byte sent.
Tests that need a forked server or ``tornado.web`` running on tornado_compat
run a script from ``apps/`` in a subprocess.
"""
