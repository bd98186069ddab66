"""Every command of docs/deploy.md (and of the Dockerfile it includes) is
run by a test, or says why it cannot be run here."""

from __future__ import annotations

from tests.deploy import docpage

#: Words that pick a command out, and the test that runs it.
RUN_BY = {
    ("systemd-socket-activate",): "test_systemd.py",
    ("--unix-socket", "--xheaders"): "test_nginx.py",
}
#: Commands no test can run here, and why.
NOT_RUN = {
    "systemctl daemon-reload": "systemd is not the init process here",
    "systemctl enable --now myapp.socket": "systemd is not the init process here",
    "docker build -t myapp .": "no Docker daemon here (test_container.py runs"
    " the image's command as PID 1 of a PID namespace instead)",
    "docker run --stop-timeout 30 -p 8000:8000 myapp": "no Docker daemon here",
}


def test_every_command_of_the_page_is_run_or_explained() -> None:
    commands = docpage.commands() + docpage.dockerfile_commands()
    assert commands
    for command in commands:
        words = command.split()
        run = [key for key in RUN_BY if all(w in words for w in key)]
        assert run or command in NOT_RUN, f"no test runs {command!r}"
    for command in NOT_RUN:
        assert command in commands, f"{command!r} is no longer on the page"
    for key in RUN_BY:
        assert any(all(w in c.split() for w in key) for c in commands), key
