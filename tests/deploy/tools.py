"""The system tools of the deployment tests (not a test module): nginx,
systemd's ``systemd-socket-activate`` and ``systemd-analyze``.

What it is for: finding them, and on a Debian machine where the tests run
as root (CI's fresh machines), installing the missing package first, as the
client tests do for tinyproxy, so that the README's test command works on a
new machine.  ``.ci/run`` installs them too.

What it must never do: skip a test for a missing tool.  A tool that cannot
be found or installed fails the test that needs it, saying how to install
it.
"""

from __future__ import annotations

import os
import shutil

from tests.client.servers import install_debian_package

#: tool -> the Debian package that has it.
PACKAGES = {
    "nginx": "nginx",
    "systemd-socket-activate": "systemd",
    "systemd-analyze": "systemd",
}


def _on_disk(name: str) -> str | None:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def tool(name: str) -> str:
    """The path of ``name``, installed with apt-get first if need be."""
    found = _on_disk(name)
    if found is None and install_debian_package(PACKAGES[name]):
        found = _on_disk(name)
    if found is None:
        raise AssertionError(
            f"{name} is not installed: the deployment tests need it.  Install"
            f" it with `apt-get install -y {PACKAGES[name]}` (.ci/run does that)."
        )
    return found
