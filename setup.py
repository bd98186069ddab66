"""Build entry point kept for tools and users that call ``setup.py`` directly.

All metadata lives in pyproject.toml; this file must never duplicate it.
"""

from setuptools import setup

setup()
