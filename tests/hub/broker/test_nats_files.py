"""The NATS node config and logins file as nats-server itself reads them (its -t config check), and the binary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import bcrypt

from hub.broker.credentials import HUB_USERNAME
from hub.broker.nats_auth import DeviceLogin, device_subjects, nats_secret_hash, render_auth, write_auth
from hub.broker.nats_cluster import nats_server_binary
from hub.broker.nats_config import NodeConfig


def node(tmp_path: Path, **kw: object) -> NodeConfig:
    values: dict[str, object] = {
        "name": "n1",
        "data_dir": tmp_path,
        "client_port": 14222,
        "mqtt_port": 11883,
        "cluster_port": 16222,
        "monitor_port": 18222,
        "routes": ["10.0.0.2:6222", "10.0.0.3:6222"],
    }
    values.update(kw)
    return NodeConfig(**values)  # type: ignore[arg-type]


def check(config: NodeConfig) -> subprocess.CompletedProcess[str]:
    """nats-server -t: parse the config (and its include) and exit, as the real server would load it."""
    return subprocess.run(
        [nats_server_binary(), "-t", "-c", str(config.conf_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_binary_is_the_pinned_wheel_not_the_system_one() -> None:
    binary = nats_server_binary()
    assert not binary.startswith("/usr/")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    assert "v2.15.1" in version


def test_rendered_node_config_and_logins_are_accepted_by_nats_server(tmp_path: Path) -> None:
    config = node(tmp_path, route_password="route-secret")
    config.conf_path.write_text(config.render())
    write_auth(
        config.auth_path,
        nats_secret_hash("hub-password", rounds=4),
        [
            DeviceLogin("dash-1a2b", nats_secret_hash("s1")),
        ],
    )
    result = check(config)
    assert result.returncode == 0, result.stdout + result.stderr
    text = config.render()
    assert "nats-route://route:route-secret@10.0.0.2:6222" in text
    assert "stream_replicas: 3" in text and "consumer_memory_storage: true" in text


def test_a_broken_logins_file_is_refused_by_the_config_check(tmp_path: Path) -> None:
    # The check must be able to fail, or the test above proves nothing.
    config = node(tmp_path)
    config.conf_path.write_text(config.render())
    config.auth_path.write_text("authorization { users = [ {user: \n")
    assert check(config).returncode != 0


def test_each_device_gets_only_its_own_subjects_and_the_hub_everything() -> None:
    text = render_auth("$2b$04$hubhash", [DeviceLogin("dash-1", "$2b$04$x"), DeviceLogin("wand-2", "$2b$04$y")])
    assert device_subjects("dash-1") == (
        ["restock.v1.dash-1.event", "restock.v1.dash-1.status"],
        ["restock.v1.dash-1.cmd"],
    )
    dash_line = next(line for line in text.splitlines() if '"dash-1"' in line)
    assert '"allow": ["restock.v1.dash-1.event", "restock.v1.dash-1.status"]' in dash_line
    assert '"allow": ["restock.v1.dash-1.cmd"]' in dash_line
    assert "wand-2" not in dash_line
    hub_line = next(line for line in text.splitlines() if f'"{HUB_USERNAME}"' in line)
    assert "permissions" not in hub_line


def test_logins_that_could_widen_their_subjects_are_left_out() -> None:
    text = render_auth(
        "$2b$04$hubhash",
        [
            DeviceLogin("evil.>", "$2b$04$x"),  # a '.' or wildcard in a name would widen the subjects
            DeviceLogin("dash-9", "plain-secret"),  # not a bcrypt hash: NATS would compare it in clear
            DeviceLogin("dash-ok", "$2b$04$z"),
        ],
    )
    assert "evil" not in text and "plain-secret" not in text and "dash-ok" in text


def test_device_hash_is_cheap_bcrypt_that_verifies() -> None:
    hashed = nats_secret_hash("a-long-random-device-secret")
    assert hashed.startswith("$2b$04$")
    assert bcrypt.checkpw(b"a-long-random-device-secret", hashed.encode())
    assert not bcrypt.checkpw(b"another-secret", hashed.encode())
