"""`restock device rekey`: a new secret in a new bundle, the old one refused, NATS login hash present again."""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt
from sqlmodel import Session
from typer.testing import CliRunner

from hub.broker.credentials import DEVICE_SECRET_HASHER
from hub.store import repos
from hub.store.db import make_engine
from restock.cli import app


def _run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_rekey_gives_a_device_added_before_nats_logins_a_new_secret_and_login(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restock.db'}"
    env = {"RESTOCK_DATA_DIR": str(tmp_path / "data"), "RESTOCK_DATABASE_URL": url}
    bundle = ["--wifi-ssid", "home", "--broker-host", "127.0.0.1", "--no-tls"]
    _run(env, "device", "add", "--kind", "dash_button", "--id", "dash-old", *bundle)
    config = tmp_path / "data" / "devices" / "dash-old" / "config.json"
    old_secret = json.loads(config.read_text())["secret"]
    engine = make_engine(url)
    with Session(engine) as session:  # as the migration leaves a device that existed before NATS logins
        device = repos.device(session, "dash-old")
        assert device is not None
        device.nats_secret_hash = None
        session.add(device)
        session.commit()

    listing = _run(env, "device", "list")
    assert "restock device rekey" in listing and "dash-old" in listing

    output = _run(env, "device", "rekey", "dash-old", *bundle)
    assert "new secret" in output
    new_secret = json.loads(config.read_text())["secret"]
    assert new_secret != old_secret
    with Session(engine) as session:
        device = repos.device(session, "dash-old")
        assert device is not None and device.nats_secret_hash is not None
        assert bcrypt.checkpw(new_secret.encode(), device.nats_secret_hash.encode())
        assert DEVICE_SECRET_HASHER.verify(device.secret_hash, new_secret)
        assert not bcrypt.checkpw(old_secret.encode(), device.nats_secret_hash.encode())
    engine.dispose()
    assert "rekey" not in _run(env, "device", "list")
