"""A user's mistake in any `restock` command: one line on stderr naming the fix, a meaningful exit code, no traceback.

Exit codes (README): 2 a usage error (bad argument, missing file, bad setting), 3 a start-up failure (port in
use, unusable data folder, unreachable database).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.broker.mosquitto import free_port

RESTOCK = str(Path(sys.executable).parent / "restock")


def restock(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run the `restock` console script from `cwd` with only the given RESTOCK_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTOCK_")}
    env.update({f"RESTOCK_{name.upper()}": value for name, value in settings.items()})
    env["COLUMNS"] = "200"
    return subprocess.run(
        [RESTOCK, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a mistake prints on stderr (and nothing that looks like a traceback anywhere)."""
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("restock"), lines[0]
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_hub_with_the_mqtt_port_taken_says_which_setting_to_change(tmp_path: Path, taken_port: int) -> None:
    result = restock(
        "hub", cwd=tmp_path, embedded_mqtt_port=str(taken_port), http_port=str(free_port()),
        data_dir=str(tmp_path / "data"),
    )
    assert result.returncode == 3
    line = one_line(result)
    assert f"MQTT port {taken_port} is in use" in line and "RESTOCK_EMBEDDED_MQTT_PORT" in line


def test_hub_with_the_http_port_taken_says_which_setting_to_change(tmp_path: Path, taken_port: int) -> None:
    result = restock(
        "hub", cwd=tmp_path, embedded_mqtt_port=str(free_port()), http_port=str(taken_port),
        data_dir=str(tmp_path / "data"),
    )
    assert result.returncode == 3
    line = one_line(result)
    assert f"HTTP port {taken_port} is in use" in line and "RESTOCK_HTTP_PORT" in line


def test_hub_http_port_option_taken_names_the_option(tmp_path: Path, taken_port: int) -> None:
    result = restock(
        "hub", "--port", str(taken_port), cwd=tmp_path, embedded_mqtt_port=str(free_port()),
        data_dir=str(tmp_path / "data"),
    )
    assert result.returncode == 3
    assert "--port" in one_line(result)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("http_port", "eighty"), ("ingest_workers", "0"), ("log_json", "maybe"), ("log_level", "LOUD")],
)
def test_a_bad_setting_names_its_variable(tmp_path: Path, setting: str, value: str) -> None:
    result = restock("hub", cwd=tmp_path, data_dir=str(tmp_path / "data"), **{setting: value})
    assert result.returncode == 2
    line = one_line(result)
    assert f"RESTOCK_{setting.upper()}" in line and value in line


def test_hub_with_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = restock("hub", cwd=tmp_path, data_dir=str(blocker), embedded_mqtt_port=str(free_port()),
                     http_port=str(free_port()))
    assert result.returncode == 3
    line = one_line(result)
    assert "RESTOCK_DATA_DIR" in line and str(blocker) in line


def test_hub_with_an_unreachable_database_names_the_setting(tmp_path: Path) -> None:
    result = restock(
        "hub", cwd=tmp_path, data_dir=str(tmp_path / "data"), embedded_mqtt_port=str(free_port()),
        http_port=str(free_port()), database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
        log_level="WARNING",
    )
    assert result.returncode == 3
    line = one_line(result)
    assert "RESTOCK_DATABASE_URL" in line


def test_a_cli_command_with_an_unusable_database_names_the_setting(tmp_path: Path) -> None:
    result = restock("device", "list", cwd=tmp_path, database_url="nosuchdb://x")
    assert result.returncode == 2
    assert "RESTOCK_DATABASE_URL" in one_line(result)


@pytest.mark.parametrize("option", ["--mqtt-port", "--http-port"])
def test_demo_with_a_chosen_port_taken_names_the_option(tmp_path: Path, taken_port: int, option: str) -> None:
    result = restock("demo", option, str(taken_port), cwd=tmp_path)
    assert result.returncode == 3
    line = one_line(result)
    assert f"port {taken_port} is in use" in line and option in line


def test_demo_with_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    result = restock("demo", "--data-dir", "blocker/demo", "--no-fresh", cwd=tmp_path)
    assert result.returncode == 3
    assert "--data-dir" in one_line(result)


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["hub", "--port", "eighty"],
        ["demo", "--log-level", "LOUD"],
        ["sim", "run", "missing.toml"],
        ["sim", "fleet", "--credentials", "missing.csv"],
        ["catalog", "import", "missing.csv"],
        ["firmware", "build", "--source", "missing-folder"],
        ["device", "revoke", "nobody"],
        ["device", "factory-reset", "nobody"],
        ["device", "add", "--kind", "dash_button"],
        ["flash", "nobody", "--port", "/dev/null"],
    ],
    ids=lambda args: " ".join(args),
)
def test_usage_mistakes_are_one_line_with_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = restock(*args, cwd=tmp_path, data_dir=str(tmp_path / "data"))
    assert result.returncode == 2, result.stdout + result.stderr
    one_line(result)


def test_help_still_works(tmp_path: Path) -> None:
    result = restock("--help", cwd=tmp_path)
    assert result.returncode == 0 and "demo" in result.stdout and result.stderr == ""


def test_device_add_with_an_unusable_bundle_folder_registers_nothing(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    data = str(tmp_path / "data")
    result = restock("device", "add", "--kind", "dash_button", "--id", "btn-nowhere", "--wifi-ssid", "home",
                     "--no-tls", "--out", "blocker/bundles", cwd=tmp_path, data_dir=data)
    assert result.returncode == 2
    assert "--out" in one_line(result)
    listed = restock("device", "list", cwd=tmp_path, data_dir=data)
    assert listed.returncode == 0 and "btn-nowhere" not in listed.stdout


def test_broker_reload_that_mosquitto_never_confirms_is_one_line(tmp_path: Path) -> None:
    """The files are written, but the process named by the pid file never shows it read them (it ignores SIGHUP
    and listens nowhere): one line saying so and how to fix it, exit 1, no traceback."""
    data = tmp_path / "data"
    port = str(free_port())  # nothing listens there, so no other broker can seem to confirm the reload
    assert restock("broker", "config", "--port", port, cwd=tmp_path, data_dir=str(data)).returncode == 0
    deaf = subprocess.Popen(["nohup", "sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (data / "mosquitto" / "mosquitto.pid").write_text(f"{deaf.pid}\n")
        result = restock("broker", "reload", cwd=tmp_path, data_dir=str(data))
        assert result.returncode == 1
        line = one_line(result)
        assert "did not apply" in line and "restock broker reload" in line
    finally:
        deaf.kill()
        deaf.wait()
