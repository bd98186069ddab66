"""A unittest module whose second test never ends, for the runner's time limit test.

pytest must never collect it (the file name keeps it out).
"""

import threading
import unittest


class Hangs(unittest.TestCase):
    def test_a_passes(self) -> None:
        pass

    def test_b_hangs(self) -> None:
        threading.Event().wait()
