"""Fixtures of this folder: the shop, mail and webhook stand-ins of tests/hub/shops.py."""

from tests.hub.shops import mailbox, make_shop, silent_webhook  # noqa: F401 - fixtures, found by pytest here
