"""Settings in sections: every RESTOCK_* name the flat settings had still lands in its field, from the
environment, from a .env file and as a keyword argument; validation errors name the variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.cli_errors import settings_error
from hub.settings import ENV_NAMES, Settings

# Every field of the flat Settings before it was split into sections (its variable is RESTOCK_<NAME>), with a
# value other than its default and where it lives now. Kept literal: this list is the compatibility contract.
OLD_NAMES: dict[str, tuple[str, str, Any]] = {
    "database_url": ("database", "url", "sqlite:////tmp/elsewhere.db"),
    "database_live_fanout": ("database", "live_fanout", False),
    "mqtt_url": ("mqtt", "url", "mqtt://hub:pw@broker:1884"),
    "embedded_mqtt_host": ("mqtt", "embedded_host", "0.0.0.0"),
    "embedded_mqtt_port": ("mqtt", "embedded_port", 1999),
    "mqtt_client_id": ("mqtt", "client_id", "hub-7"),
    "shared_subscription": ("ingest", "shared_subscription", True),
    "ingest_workers": ("ingest", "workers", 3),
    "ingest_cpu": ("ingest", "cpu", "1"),
    "http_host": ("http", "host", "0.0.0.0"),
    "http_port": ("http", "port", 8123),
    "merchant_step_seconds": ("merchant", "step_seconds", 7.5),
    "slot_review_seconds": ("scheduler", "slot_review_seconds", 60.0),
    "scheduler_poll_seconds": ("scheduler", "poll_seconds", 0.5),
    "revoke_sweep_seconds": ("mqtt", "revoke_sweep_seconds", 5.0),
    "demo_catalog": ("merchant", "demo_catalog", False),
    "log_level": ("log", "level", "DEBUG"),
    "log_json": ("log", "as_json", True),
    "http_max_body_bytes": ("http", "max_body_bytes", 2048),
    "http_max_upload_bytes": ("http", "max_upload_bytes", 4096),
    "http_public_url": ("http", "public_url", "https://hub.example.org"),
    "password_hash_parallel": ("signin", "hash_parallel", 3),
    "password_hash_queue": ("signin", "hash_queue", 4),
    "signin_account_burst": ("signin", "account_burst", 6),
    "signin_account_per_minute": ("signin", "account_per_minute", 6.5),
    "signin_account_free_failures": ("signin", "account_free_failures", 7),
    "signin_address_burst": ("signin", "address_burst", 21),
    "signin_address_per_minute": ("signin", "address_per_minute", 21.5),
    "signin_address_free_failures": ("signin", "address_free_failures", 22),
    "signin_lockout_s": ("signin", "lockout_s", 31.0),
    "signin_lockout_max_s": ("signin", "lockout_max_s", 901.0),
    "off_enabled": ("openfoodfacts", "enabled", True),
    "off_url": ("openfoodfacts", "url", "http://off.local"),
    "off_timeout_s": ("openfoodfacts", "timeout_s", 4.0),
    "off_per_minute": ("openfoodfacts", "per_minute", 11),
    "off_cache_s": ("openfoodfacts", "cache_s", 99.0),
    "merchant_timeout_s": ("merchant", "timeout_s", 11.0),
    "merchant_retry_base_s": ("merchant", "retry_base_s", 2.0),
    "merchant_retry_max_s": ("merchant", "retry_max_s", 301.0),
    "merchant_max_attempts": ("merchant", "max_attempts", 9),
    "merchant_lease_s": ("merchant", "lease_s", 61.0),
    "callback_max_age_s": ("merchant", "callback_max_age_s", 301.0),
    "smtp_host": ("smtp", "host", "mail.local"),
    "smtp_port": ("smtp", "port", 2525),
    "smtp_user": ("smtp", "user", "me"),
    "smtp_password": ("smtp", "password", "secret"),
    "smtp_from": ("smtp", "sender", "hub@home.example"),
    "smtp_starttls": ("smtp", "starttls", True),
    "notify_poll_s": ("notify", "poll_s", 2.0),
    "notify_timeout_s": ("notify", "timeout_s", 11.0),
    "notify_retry_base_s": ("notify", "retry_base_s", 6.0),
    "notify_retry_max_s": ("notify", "retry_max_s", 3601.0),
    "notify_max_attempts": ("notify", "max_attempts", 13),
    "device_check_s": ("notify", "device_check_s", 301.0),
    "offline_after_h": ("notify", "offline_after_h", 25.0),
    "low_battery_mv": ("notify", "low_battery_mv", 2500),
    "homeassistant": ("notify", "homeassistant", False),
    # Added with the metrics section (not in the flat settings, named the same way).
    "metrics_enabled": ("metrics", "enabled", False),
    "metrics_token": ("metrics", "token", "scrape-secret"),
    "metrics_dir": ("metrics", "dir", Path("/tmp/restock-metrics")),
    # Added with the NATS cluster (docs/scale-out.md).
    "broker": ("nats", "broker", "nats"),
    "nats_url": ("nats", "url", "nats://hub:pw@n1:4222,nats://hub:pw@n2:4222"),
    "nats_consumer": ("nats", "consumer", "ingest-b"),
    "nats_fetch_batch": ("nats", "fetch_batch", 64),
    "nats_ack_wait_s": ("nats", "ack_wait_s", 20.0),
}


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("RESTOCK_"):
            monkeypatch.delenv(name)


def _assert_landed(settings: Settings) -> None:
    for old, (section, field, value) in OLD_NAMES.items():
        assert getattr(getattr(settings, section), field) == value, old


def test_every_old_name_is_a_section_field() -> None:
    assert {old: (section, field) for old, (section, field, _) in OLD_NAMES.items()} == ENV_NAMES


def test_every_old_variable_lands_in_its_section(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear(monkeypatch)
    for old, (_, _, value) in OLD_NAMES.items():
        monkeypatch.setenv(f"RESTOCK_{old.upper()}", _text(value))
    monkeypatch.setenv("RESTOCK_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    _assert_landed(settings)
    assert settings.data_dir == tmp_path


def test_every_old_variable_in_a_dotenv_file_lands_in_its_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clear(monkeypatch)
    lines = [f"RESTOCK_{old.upper()}={_text(value)}" for old, (_, _, value) in OLD_NAMES.items()]
    (tmp_path / ".env").write_text("\n".join([*lines, f"RESTOCK_DATA_DIR={tmp_path}", ""]))
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    _assert_landed(settings)
    assert settings.data_dir == tmp_path


def test_the_environment_wins_over_the_dotenv_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear(monkeypatch)
    (tmp_path / ".env").write_text("RESTOCK_SMTP_HOST=from-file\nRESTOCK_HTTP_PORT=1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESTOCK_SMTP_HOST", "from-env")
    settings = Settings()
    assert settings.smtp.host == "from-env" and settings.http.port == 1


def test_old_names_as_keywords_land_in_their_section_and_win(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("RESTOCK_HTTP_PORT", "1")
    settings = Settings(_env_file=None, **{old: value for old, (_, _, value) in OLD_NAMES.items()})
    _assert_landed(settings)


def test_defaults_and_a_round_trip_through_a_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    settings = Settings(_env_file=None, http_port=0, smtp_from="x@y")
    assert settings.merchant.timeout_s == 10.0 and settings.notify.max_attempts == 12
    assert Settings(_env_file=None, **settings.model_dump(mode="json")) == settings


def test_a_bad_value_names_the_old_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("RESTOCK_SMTP_FROM", "")
    monkeypatch.setenv("RESTOCK_LOW_BATTERY_MV", "lots")
    monkeypatch.setenv("RESTOCK_MERCHANT_TIMEOUT_S", "-1")
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    message = settings_error(raised.value).message
    assert "RESTOCK_LOW_BATTERY_MV=lots" in message and "RESTOCK_MERCHANT_TIMEOUT_S=-1" in message


def test_nats_urls_split_in_order_and_stay_out_of_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("RESTOCK_NATS_URL", " nats://hub:s3cret@n1:4222 ,nats://hub:s3cret@n2:4222,")
    settings = Settings(_env_file=None)
    assert settings.nats.servers() == ["nats://hub:s3cret@n1:4222", "nats://hub:s3cret@n2:4222"]
    assert "s3cret" not in repr(settings)
    assert Settings(_env_file=None, broker="mqtt").nats.servers() == ["nats://hub:s3cret@n1:4222",
                                                                      "nats://hub:s3cret@n2:4222"]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, broker="kafka")
