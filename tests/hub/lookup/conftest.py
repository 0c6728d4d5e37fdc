"""Fixtures of this folder: the local Open Food Facts stand-in of tests/hub/scanning.py."""

from tests.hub.scanning import off_server  # noqa: F401 - a fixture, found by pytest here
