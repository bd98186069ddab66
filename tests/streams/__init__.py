"""The stream conformance suite: one contract, checked on every kind of stream.

``support.py`` builds connected pairs of each kind (TCP, unix socket, TLS and
pipe) on each event loop (asyncio's and uvloop); ``conftest.py`` runs every
``async def`` test here once per loop and per kind.  The test modules hold the
contract (``test_contract``), the buffer limits and partial operations
(``test_limits``, ``test_buffers``), TLS (``test_tls``) and the faults a peer
can cause (``test_misbehaviour``).
"""
