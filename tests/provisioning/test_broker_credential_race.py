"""mosquitto device logins under concurrent adds and revokes, from threads and from processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub.broker import mosquitto_files as brokerfiles
from tests.hub.broker.rawclient import RawClient
from tests.provisioning.conftest import GeneratedBroker

pytestmark = pytest.mark.broker


def _login(port: int, device_id: str, secret: str) -> int:
    client = RawClient(port)
    try:
        return client.login(device_id, secret)
    finally:
        client.close()


def test_concurrent_adds_and_revokes_leave_exactly_the_right_logins(generated_broker: GeneratedBroker) -> None:
    gb = generated_broker
    old = {f"old-{n:02d}": f"old-secret-{n:02d}-" + "x" * 20 for n in range(25)}
    new = {f"new-{n:02d}": f"new-secret-{n:02d}-" + "y" * 20 for n in range(50)}
    for device_id, secret in old.items():
        assert brokerfiles.add_if_configured(gb.data_dir, device_id, secret)
    assert all(_login(gb.port, d, s) == 0 for d, s in old.items())

    with ThreadPoolExecutor(len(old) + len(new)) as pool:
        done = [pool.submit(brokerfiles.add_if_configured, gb.data_dir, d, s) for d, s in new.items()]
        done += [pool.submit(brokerfiles.revoke_if_configured, gb.data_dir, d) for d in old]
        assert all(f.result() for f in done)

    # No waiting: each call returned only once mosquitto had applied its change.
    assert {d: _login(gb.port, d, s) for d, s in new.items()} == dict.fromkeys(new, 0)
    refused = {d: _login(gb.port, d, s) for d, s in old.items()}
    assert all(code != 0 for code in refused.values()), refused
    lines = brokerfiles.read_password_lines(gb.files.passwd)
    assert set(new) <= set(lines) and not set(old) & set(lines)


_ADDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hub.broker import mosquitto_files as broker
    data_dir, prefix = Path(sys.argv[1]), sys.argv[2]
    for n in range(15):
        assert broker.add_if_configured(data_dir, f"{prefix}-{n:02d}", f"{prefix}-secret-{n:02d}-" + "z" * 20)
""")


def test_concurrent_processes_lose_no_login(generated_broker: GeneratedBroker) -> None:
    """`restock device add` in several shells at once, next to the hub: every login lands."""
    gb = generated_broker
    prefixes = ["pa", "pb", "pc"]
    procs = [subprocess.Popen([sys.executable, "-c", _ADDER, str(gb.data_dir), p]) for p in prefixes]
    assert [proc.wait(60) for proc in procs] == [0, 0, 0]
    expected = {f"{p}-{n:02d}": f"{p}-secret-{n:02d}-" + "z" * 20 for p in prefixes for n in range(15)}
    assert set(expected) <= set(brokerfiles.read_password_lines(gb.files.passwd))
    assert {d: _login(gb.port, d, s) for d, s in expected.items()} == dict.fromkeys(expected, 0)


def test_a_revoked_device_stays_revoked_when_a_late_add_races_its_revoke(generated_broker: GeneratedBroker) -> None:
    """Device ids are never reused: an add that lands after the revoke must not bring the login back."""
    gb = generated_broker
    assert brokerfiles.add_if_configured(gb.data_dir, "btn-late", "late-secret-" + "x" * 20)
    assert brokerfiles.revoke_if_configured(gb.data_dir, "btn-late")
    assert brokerfiles.add_if_configured(gb.data_dir, "btn-late", "late-secret-" + "x" * 20)
    assert _login(gb.port, "btn-late", "late-secret-" + "x" * 20) != 0
    assert "btn-late" not in brokerfiles.read_password_lines(gb.files.passwd)


def test_reload_without_a_running_broker_says_so(generated_broker: GeneratedBroker) -> None:
    gb = generated_broker
    gb.process.stop()
    brokerfiles.add_device(gb.files, "btn-off", "off-secret-" + "x" * 20)
    assert not brokerfiles.reload(gb.files)
    gb.process.start()  # reads the files as it starts
    assert _login(gb.port, "btn-off", "off-secret-" + "x" * 20) == 0
