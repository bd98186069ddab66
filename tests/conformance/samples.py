"""A tiny unittest module with one test of each outcome, for the runner's own tests.

tests/test_conformance_runner.py runs it through the worker, on both sides, and
checks the counts.  pytest must never collect it (the file name keeps it out).
"""

import logging
import sys
import unittest

from tornado.test.util import abstract_base_test


class Outcomes(unittest.TestCase):
    def test_passes(self) -> None:
        pass

    def test_fails(self) -> None:
        self.fail("fails on purpose")

    def test_errors(self) -> None:
        raise RuntimeError("errors on purpose")

    @unittest.skip("skipped on purpose")
    def test_skipped(self) -> None:
        pass

    def test_subtest_fails(self) -> None:
        for i in range(2):
            with self.subTest(i=i):
                self.assertEqual(i, 0)


@abstract_base_test
class AbstractBase(unittest.TestCase):
    def test_inherited(self) -> None:
        pass


class Concrete(AbstractBase):
    pass


class Noisy(unittest.TestCase):
    def test_logs_and_writes_to_stderr(self) -> None:
        logging.getLogger("samples").warning("a warning on purpose")
        sys.stderr.write("stderr on purpose\n")
