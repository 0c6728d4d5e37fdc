"""All hub settings in one place, read from RESTOCK_* environment variables (and a .env file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Hub configuration; every field maps to an environment variable RESTOCK_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RESTOCK_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for the SQLite database and broker files")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite (WAL) in data_dir/restock.db"
    )
    mqtt_url: str | None = Field(
        default=None, description="External broker, mqtt://user:password@host:port; unset = embedded amqtt"
    )
    embedded_mqtt_host: str = "127.0.0.1"
    embedded_mqtt_port: int = 1883
    mqtt_client_id: str = Field(default="restock-hub", description="MQTT client id of this hub worker")
    shared_subscription: bool = Field(
        default=False, description="Subscribe through $share/restock/ so several hub workers split the stream"
    )
    ingest_workers: int = Field(
        default=1, ge=1, le=32,
        description="Processes applying device events (the hub and N - 1 children on a shared subscription); "
        "more than 1 needs an external broker (RESTOCK_MQTT_URL) with shared subscriptions, such as mosquitto",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    merchant_step_seconds: float = Field(
        default=60.0, description="Demo merchant: seconds between confirmed, shipped and delivered"
    )
    slot_review_seconds: float = Field(
        default=3600.0, description="How often every sensor slot's reorder policy runs without a new reading"
    )
    scheduler_poll_seconds: float = Field(default=1.0, description="How often durable timers are checked")
    revoke_sweep_seconds: float = Field(
        default=30.0, description="Embedded broker: how often connected devices are checked against revokes "
        "made outside this process (the CLI)"
    )
    demo_catalog: bool = Field(default=True, description="Seed the demo store's catalog when it is missing")
    log_level: str = "INFO"
    log_json: bool = False

    # --- HTTP edge (hub/http): body limits, sign-in throttling; docs/security.md explains the figures ---
    http_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body of JSON and form routes (413 above)"
    )
    http_max_upload_bytes: int = Field(
        default=5 * 1024 * 1024 + 64 * 1024, ge=1024,
        description="Largest request body of upload routes (the catalog CSV import: 5 MiB plus form overhead)",
    )
    password_hash_parallel: int = Field(
        default=2, ge=1, le=64, description="Password hashes (argon2, 64 MiB each) computed at once"
    )
    password_hash_queue: int = Field(
        default=8, ge=0, le=1000, description="Sign-ins waiting for a hash slot; beyond that, 429 at once"
    )
    signin_account_burst: int = Field(default=5, ge=1, description="Sign-in attempts per account back to back")
    signin_account_per_minute: float = Field(default=5.0, gt=0, description="Sign-in attempts per account and minute")
    signin_account_free_failures: int = Field(
        default=5, ge=1, description="Wrong passwords in a row before an account is locked"
    )
    signin_address_burst: int = Field(
        default=20, ge=1, description="Sign-in and sign-up attempts per client address back to back"
    )
    signin_address_per_minute: float = Field(
        default=20.0, gt=0, description="Sign-in and sign-up attempts per client address and minute"
    )
    signin_address_free_failures: int = Field(
        default=20, ge=1, description="Wrong passwords in a row from one address before it is locked"
    )
    signin_lockout_s: float = Field(
        default=30.0, gt=0, description="First lockout; doubles with each further wrong password"
    )
    signin_lockout_max_s: float = Field(default=900.0, gt=0, description="Longest lockout")

    # --- Open Food Facts name lookup for unknown barcodes (hub/merchants/openfoodfacts.py) ---
    # Opt-in: it sends the household's unknown barcodes to a third party, so the household turns it on.
    off_enabled: bool = Field(default=False, description="Look up names of unknown barcodes on Open Food Facts")
    off_url: str = Field(default="https://world.openfoodfacts.org", description="Open Food Facts base URL")
    off_timeout_s: float = Field(default=3.0, gt=0, le=30, description="Timeout of one lookup")
    off_per_minute: int = Field(default=10, ge=1, le=100, description="Lookups per minute at most")
    off_cache_s: float = Field(default=24 * 3600.0, ge=0, description="How long found / not found answers are kept")

    # --- Issue 8: webhook merchants (hub/merchants/webhook.py) ---
    merchant_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Timeout of one request to a shop")
    merchant_retry_base_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles per attempt")
    merchant_retry_max_s: float = Field(default=300.0, gt=0, description="Longest delay between two attempts")
    merchant_max_attempts: int = Field(default=8, ge=1, le=50, description="Attempts before an order fails")
    merchant_lease_s: float = Field(
        default=60.0, gt=0, description="After this long an unanswered request is sent again (hub died mid-call)"
    )
    callback_max_age_s: float = Field(default=300.0, gt=0, description="Shop callbacks older than this are refused")

    # --- Issue 8: household notifications (hub/notify) ---
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail notifications; unset = no e-mail")
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = Field(default="restock@localhost", description="Sender address of notification e-mails")
    smtp_starttls: bool = False
    notify_poll_s: float = Field(default=1.0, gt=0, description="How often the outbox is checked without a hint")
    notify_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Timeout of one channel delivery")
    notify_retry_base_s: float = Field(default=5.0, gt=0, description="First delivery retry delay; doubles")
    notify_retry_max_s: float = Field(default=3600.0, gt=0, description="Longest delay between delivery attempts")
    notify_max_attempts: int = Field(default=12, ge=1, le=100, description="Delivery attempts before giving up")
    device_check_s: float = Field(default=300.0, gt=0, description="How often offline / battery checks run")
    offline_after_h: float = Field(default=24.0, gt=0, description="Notify when a device is silent this long")
    low_battery_mv: int = Field(default=2400, ge=0, description="Notify when a battery reports less than this")
    homeassistant: bool = Field(default=True, description="Publish Home Assistant MQTT discovery configs")

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'restock.db').resolve()}"
