"""One-tap links in order notifications: cancel, approve, reject, signed by the hub.

A link is a capability: whoever holds it may do this one thing to this one order of this one household until it
expires, once. The token carries all of that in the clear plus an HMAC over it with a hub secret, so it is checked
without a lookup; single use is a stored record of its nonce (`ActionLinkUse`, hub/services/order_links.py).

A single hub keeps the secret in its data folder (`action_links.key`, created on first use, readable by the hub's
user only). Hub nodes sharing a PostgreSQL database keep it there instead, so a link sent by one node is accepted
by any other; a node that finds a key file offers that key first, so links sent before keep working.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from hub.services import random_ids, shared_secrets

CANCEL, APPROVE, REJECT = "cancel", "approve", "reject"
ACTIONS = (CANCEL, APPROVE, REJECT)
LABELS = {CANCEL: "Cancel order", APPROVE: "Approve", REJECT: "Reject"}
# An order awaiting approval waits for the household; its links stay good for a week.
APPROVAL_TTL = timedelta(days=7)
KEY_FILE = "action_links.key"
SECRET_NAME = "action-links"  # its name among the secrets hub nodes share
VERSION = "a1"
_TOKEN = re.compile(r"^a1\.(\d{1,12})\.([A-Za-z0-9_-]{1,20})\.(cancel|approve|reject)\.(\d{1,12})\.([0-9a-f]{32})"
                    r"\.([0-9a-f]{32})$")


class LinkError(Exception):
    """A token that is not one of ours (malformed or its signature does not match)."""


@dataclass(frozen=True)
class LinkClaim:
    """What a verified token allows: one action on one order of one household until `expires`."""

    household_id: int
    order_id: str
    action: str
    expires: datetime
    nonce: str


class ActionLinks:
    """Signs and verifies action tokens and builds the links a notification carries."""

    def __init__(
        self, data_dir: Path | None, base_url: str, key: bytes | None = None, shared: Engine | None = None
    ) -> None:
        self.data_dir = data_dir
        self.base_url = base_url.rstrip("/")
        self.shared = shared
        self._key = key
        self._lock = threading.Lock()

    def key(self) -> bytes:
        """The hub's signing secret: from the `shared` database when given (agreed by every node), else read from
        the data folder or made there the first time."""
        with self._lock:
            if self._key is None:
                if self.shared is not None:
                    offer = _existing(self.data_dir) or secrets.token_bytes(32)
                    self._key = shared_secrets.agreed(self.shared, SECRET_NAME, offer)
                else:
                    self._key = _load_or_create(self.data_dir)
            return self._key

    def _mac(self, body: str) -> str:
        return hmac.new(self.key(), b"restock-action:" + body.encode(), hashlib.sha256).hexdigest()[:32]

    def token(self, household_id: int, order_id: str, action: str, expires: datetime, seed: str | None = None) -> str:
        """A single-use token for one action on one order: a fresh one, or with `seed` the same one every time
        (its nonce derived from the seed, so a notification read twice carries the same links)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action}")
        nonce = random_ids.token_hex(16) if seed is None else self._mac(f"nonce:{seed}:{action}")
        body = f"{VERSION}.{household_id}.{order_id}.{action}.{int(expires.timestamp())}.{nonce}"
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str) -> LinkClaim:
        """The claim of a token this hub signed; LinkError for anything else. Expiry is the caller's check."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise LinkError("malformed")
        body, _, mac = token.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise LinkError("signature")
        household, order_id, action, expires, nonce, _ = match.groups()
        return LinkClaim(int(household), order_id, action, datetime.fromtimestamp(int(expires), UTC), nonce)

    def url(self, token: str) -> str:
        """The confirmation page of a token."""
        return f"{self.base_url}/act/{token}"

    def for_order(self, household_id: int, order_id: str, kind: str, cancel_until: datetime | None,
                  at: datetime, now: datetime | None = None, seed: str | None = None) -> list[dict[str, Any]]:
        """The links an order notification of `kind` told at `at` carries at `now` (default `at`): cancel while
        the window is open, approve and reject for a week while it awaits approval; none for other steps.
        With `seed` (the notification) the links are the same whenever they are built."""
        now = at if now is None else now
        if kind == "order.placed" and cancel_until is not None:
            wanted = [(CANCEL, cancel_until)]
        elif kind == "order.awaiting_approval":
            wanted = [(APPROVE, at + APPROVAL_TTL), (REJECT, at + APPROVAL_TTL)]
        else:
            return []
        return [{"action": action, "label": LABELS[action], "expires": expires.isoformat(),
                 "url": self.url(self.token(household_id, order_id, action, expires, seed))}
                for action, expires in wanted if expires > now]


def _existing(data_dir: Path | None) -> bytes | None:
    """The key in the data folder, if there is one."""
    if data_dir is None:
        return None
    try:
        return bytes.fromhex((data_dir / KEY_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _load_or_create(data_dir: Path | None) -> bytes:
    if data_dir is None:
        return secrets.token_bytes(32)
    path = data_dir / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        # O_EXCL: two processes starting together agree on whichever key was written first.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key
