"""Tests of docs/deploy.md: its nginx, systemd and container examples, run
against a real nginx, systemd's socket activator and the real ``serve``."""
