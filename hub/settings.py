"""All hub settings, in sections (`settings.http`, `settings.merchant`, …), read from RESTOCK_* environment
variables and a .env file.

Each section is the one place its defaults live; the objects that use them (retry and delivery policies, the
sign-in guard, the Open Food Facts client, …) are built from their section. The variable names predate the
sections and stay as they were: a section's field is RESTOCK_<section prefix><field> (RESTOCK_MERCHANT_TIMEOUT_S
is `merchant.timeout_s`), apart from the few a section names itself in `env_names` (RESTOCK_SMTP_FROM is
`smtp.sender`). `ENV_NAMES` lists them all; the same flat names also work as keyword arguments
(`Settings(http_port=0)`), which is how tests and the demo set them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hub.jobs import DeliveryPolicy, RetryPolicy

ENV_PREFIX = "RESTOCK_"


class Section(BaseModel):
    """A group of settings; `env_prefix` and `env_names` give each field's variable (without RESTOCK_)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    env_prefix: ClassVar[str] = ""
    env_names: ClassVar[dict[str, str]] = {}

    @classmethod
    def env_name(cls, field: str) -> str:
        """The variable of one field, without RESTOCK_, lower case."""
        return cls.env_names.get(field, cls.env_prefix + field)


class DatabaseSettings(Section):
    """Where the hub's data is kept."""

    env_prefix: ClassVar[str] = "database_"

    url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite (WAL) in data_dir/restock.db")
    live_fanout: bool = Field(
        default=True,
        description="On PostgreSQL: relay live dashboard events to the other hub nodes on the same database "
        "(LISTEN/NOTIFY); a single node may turn it off",
    )


class MqttSettings(Section):
    """The broker the hub talks to: an external one, or the embedded amqtt it starts itself."""

    env_prefix: ClassVar[str] = "mqtt_"
    env_names: ClassVar[dict[str, str]] = {
        "embedded_host": "embedded_mqtt_host",
        "embedded_port": "embedded_mqtt_port",
        "revoke_sweep_seconds": "revoke_sweep_seconds",
    }

    url: str | None = Field(
        default=None, description="External broker, mqtt://user:password@host:port; unset = embedded amqtt"
    )
    client_id: str = Field(default="restock-hub", description="MQTT client id of this hub worker")
    embedded_host: str = "127.0.0.1"
    embedded_port: int = 1883
    revoke_sweep_seconds: float = Field(
        default=30.0, description="Embedded broker: how often connected devices are checked against revokes "
        "made outside this process (the CLI)"
    )


class IngestSettings(Section):
    """How device events are taken in."""

    env_prefix: ClassVar[str] = "ingest_"
    env_names: ClassVar[dict[str, str]] = {"shared_subscription": "shared_subscription"}

    workers: int = Field(
        default=1, ge=1, le=32,
        description="Processes applying device events (the hub and N - 1 children on a shared subscription); "
        "more than 1 needs an external broker (RESTOCK_MQTT_URL) with shared subscriptions, such as mosquitto",
    )
    shared_subscription: bool = Field(
        default=False, description="Subscribe through $share/restock/ so several hub workers split the stream"
    )
    cpu: str = Field(
        default="off", pattern=r"^(auto|off|[0-9]{1,4})$",
        description="Keep the hub process's threads on one CPU (a CPU number; auto: one of those it may use; "
        "off: the kernel decides); its ingest workers go on the CPUs after it. See hub/ingest/affinity.py",
    )


class NatsSettings(Section):
    """The broker kind, and the NATS JetStream cluster a hub node ingests from (docs/scale-out.md).

    With `broker = "nats"`, RESTOCK_MQTT_URL names a node's MQTT listener, which the hub's feedback client uses.
    """

    env_prefix: ClassVar[str] = "nats_"
    env_names: ClassVar[dict[str, str]] = {"broker": "broker"}

    broker: Literal["mqtt", "nats"] = Field(
        default="mqtt",
        description="mqtt: one MQTT broker (embedded or RESTOCK_MQTT_URL); nats: a NATS JetStream cluster",
    )
    # repr=False: the URLs carry the hub's password, and settings objects end up in logs and tracebacks.
    url: str | None = Field(
        default=None, repr=False,
        description="The cluster's nodes, comma-separated nats://user:password@host:port (failover in this order)",
    )
    consumer: str = Field(default="restock-ingest", description="Durable JetStream consumer every hub node joins")
    fetch_batch: int = Field(default=256, ge=1, le=4096, description="Messages fetched from JetStream at once")
    ack_wait_s: float = Field(
        default=10.0, ge=1.0, le=300.0,
        description="A message a hub node took and did not ack within this long goes to another node",
    )

    def servers(self) -> list[str]:
        """The NATS URLs, in order."""
        return [part.strip() for part in (self.url or "").split(",") if part.strip()]


class HttpSettings(Section):
    """The HTTP server and its edge (hub/http): address, body limits; docs/security.md explains the figures."""

    env_prefix: ClassVar[str] = "http_"

    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body of JSON and form routes (413 above)"
    )
    max_upload_bytes: int = Field(
        default=5 * 1024 * 1024 + 64 * 1024, ge=1024,
        description="Largest request body of upload routes (the catalog CSV import: 5 MiB plus form overhead)",
    )
    public_url: str | None = Field(
        default=None,
        description="Where phones reach the hub, for the links in notifications (https://hub.example.org); "
        "default http://<host>:<port>",
    )

    def base_url(self) -> str:
        """The address the one-tap links in notifications start with, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class SignInSettings(Section):
    """Sign-in throttling (hub/http/throttle.py) and the password hashing it protects."""

    env_prefix: ClassVar[str] = "signin_"
    env_names: ClassVar[dict[str, str]] = {
        "hash_parallel": "password_hash_parallel",
        "hash_queue": "password_hash_queue",
    }

    hash_parallel: int = Field(
        default=2, ge=1, le=64, description="Password hashes (argon2, 64 MiB each) computed at once"
    )
    hash_queue: int = Field(
        default=8, ge=0, le=1000, description="Sign-ins waiting for a hash slot; beyond that, 429 at once"
    )
    account_burst: int = Field(default=5, ge=1, description="Sign-in attempts per account back to back")
    account_per_minute: float = Field(default=5.0, gt=0, description="Sign-in attempts per account and minute")
    account_free_failures: int = Field(
        default=5, ge=1, description="Wrong passwords in a row before an account is locked"
    )
    address_burst: int = Field(
        default=20, ge=1, description="Sign-in and sign-up attempts per client address back to back"
    )
    address_per_minute: float = Field(
        default=20.0, gt=0, description="Sign-in and sign-up attempts per client address and minute"
    )
    address_free_failures: int = Field(
        default=20, ge=1, description="Wrong passwords in a row from one address before it is locked"
    )
    lockout_s: float = Field(default=30.0, gt=0, description="First lockout; doubles with each further wrong password")
    lockout_max_s: float = Field(default=900.0, gt=0, description="Longest lockout")


class OpenFoodFactsSettings(Section):
    """Name lookup of unknown barcodes (hub/lookup/openfoodfacts.py).

    Opt-in: it sends the household's unknown barcodes to a third party, so the household turns it on.
    """

    env_prefix: ClassVar[str] = "off_"

    enabled: bool = Field(default=False, description="Look up names of unknown barcodes on Open Food Facts")
    url: str = Field(default="https://world.openfoodfacts.org", description="Open Food Facts base URL")
    timeout_s: float = Field(default=3.0, gt=0, le=30, description="Timeout of one lookup")
    per_minute: int = Field(default=10, ge=1, le=100, description="Lookups per minute at most")
    cache_s: float = Field(default=24 * 3600.0, ge=0, description="How long found / not found answers are kept")


class MerchantSettings(Section):
    """Shops: the demo shop's pace and catalog, and the requests to webhook shops (hub/merchants/webhook.py)."""

    env_prefix: ClassVar[str] = "merchant_"
    env_names: ClassVar[dict[str, str]] = {
        "callback_max_age_s": "callback_max_age_s",
        "demo_catalog": "demo_catalog",
    }

    step_seconds: float = Field(
        default=60.0, description="Demo merchant: seconds between confirmed, shipped and delivered"
    )
    demo_catalog: bool = Field(default=True, description="Seed the demo store's catalog when it is missing")
    timeout_s: float = Field(
        default=RetryPolicy.timeout_s, gt=0, le=120, description="Timeout of one request to a shop"
    )
    retry_base_s: float = Field(default=RetryPolicy.base_s, gt=0, description="First retry delay; doubles per attempt")
    retry_max_s: float = Field(default=RetryPolicy.max_s, gt=0, description="Longest delay between two attempts")
    max_attempts: int = Field(
        default=RetryPolicy.max_attempts, ge=1, le=50, description="Attempts before an order fails"
    )
    lease_s: float = Field(
        default=RetryPolicy.lease_s, gt=0,
        description="After this long an unanswered request is sent again (hub died mid-call)",
    )
    callback_max_age_s: float = Field(default=300.0, gt=0, description="Shop callbacks older than this are refused")

    def retry_policy(self) -> RetryPolicy:
        """How requests to webhook shops are timed out, retried and leased."""
        return RetryPolicy(self.timeout_s, self.retry_base_s, self.retry_max_s, self.max_attempts, self.lease_s)


class SmtpSettings(Section):
    """The mail server of e-mail notifications."""

    env_prefix: ClassVar[str] = "smtp_"
    env_names: ClassVar[dict[str, str]] = {"sender": "smtp_from"}

    host: str | None = Field(default=None, description="SMTP server for e-mail notifications; unset = no e-mail")
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str = Field(default="restock@localhost", description="Sender address of notification e-mails")
    starttls: bool = False


class NotifySettings(Section):
    """Household notifications (hub/notify): the outbox's pace and retries, device checks, Home Assistant."""

    env_prefix: ClassVar[str] = "notify_"
    env_names: ClassVar[dict[str, str]] = {
        "device_check_s": "device_check_s",
        "offline_after_h": "offline_after_h",
        "low_battery_mv": "low_battery_mv",
        "homeassistant": "homeassistant",
    }

    poll_s: float = Field(default=1.0, gt=0, description="How often the outbox is checked without a hint")
    timeout_s: float = Field(
        default=DeliveryPolicy.timeout_s, gt=0, le=120, description="Timeout of one channel delivery"
    )
    retry_base_s: float = Field(default=DeliveryPolicy.base_s, gt=0, description="First delivery retry delay; doubles")
    retry_max_s: float = Field(
        default=DeliveryPolicy.max_s, gt=0, description="Longest delay between delivery attempts"
    )
    max_attempts: int = Field(
        default=DeliveryPolicy.max_attempts, ge=1, le=100, description="Delivery attempts before giving up"
    )
    device_check_s: float = Field(default=300.0, gt=0, description="How often offline / battery checks run")
    offline_after_h: float = Field(default=24.0, gt=0, description="Notify when a device is silent this long")
    low_battery_mv: int = Field(default=2400, ge=0, description="Notify when a battery reports less than this")
    homeassistant: bool = Field(default=True, description="Publish Home Assistant MQTT discovery configs")

    def delivery_policy(self) -> DeliveryPolicy:
        """How channel deliveries are timed out and retried."""
        return DeliveryPolicy(self.timeout_s, self.retry_base_s, self.retry_max_s, self.max_attempts)


class SchedulerSettings(Section):
    """Durable timers (hub/scheduler)."""

    env_prefix: ClassVar[str] = "scheduler_"
    env_names: ClassVar[dict[str, str]] = {"slot_review_seconds": "slot_review_seconds"}

    poll_seconds: float = Field(default=1.0, description="How often durable timers are checked")
    slot_review_seconds: float = Field(
        default=3600.0, description="How often every sensor slot's reorder policy runs without a new reading"
    )


class MetricsSettings(Section):
    """Prometheus metrics at /metrics (hub/metrics.py); docs/metrics.md explains them and how to scrape."""

    env_prefix: ClassVar[str] = "metrics_"

    enabled: bool = Field(default=True, description="Serve /metrics; off = 404")
    token: str | None = Field(
        default=None,
        description="Bearer token /metrics asks for; unset = /metrics answers loopback clients (127.0.0.1, ::1) only",
    )
    dir: Path | None = Field(
        default=None, description="Folder of the multi-process metric files, emptied at start; default data_dir/metrics"
    )


class LogSettings(Section):
    """Log output."""

    env_prefix: ClassVar[str] = "log_"
    env_names: ClassVar[dict[str, str]] = {"as_json": "log_json"}

    level: str = "INFO"
    as_json: bool = Field(default=False, description="One JSON object per log line")


class Settings(BaseSettings):
    """Hub configuration: the data folder and one section per concern."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for the SQLite database and broker files")
    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    nats: NatsSettings = NatsSettings()
    http: HttpSettings = HttpSettings()
    signin: SignInSettings = SignInSettings()
    openfoodfacts: OpenFoodFactsSettings = OpenFoodFactsSettings()
    merchant: MerchantSettings = MerchantSettings()
    smtp: SmtpSettings = SmtpSettings()
    notify: NotifySettings = NotifySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()

    def __init__(self, **values: Any) -> None:
        """Flat names (`http_port=0`, as in RESTOCK_HTTP_PORT) are accepted beside sections."""
        super().__init__(**nest(values))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment before the .env file, as pydantic-settings does; each also read by RESTOCK_* name."""
        assert isinstance(env_settings, EnvSettingsSource) and isinstance(dotenv_settings, EnvSettingsSource)
        return (
            init_settings,
            env_settings,
            _SectionVariables(settings_cls, env_settings),
            dotenv_settings,
            _SectionVariables(settings_cls, dotenv_settings),
            file_secret_settings,
        )

    def metrics_dir(self) -> Path:
        """The folder of the multi-process metric files."""
        return self.metrics.dir or self.data_dir / "metrics"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data folder."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'restock.db').resolve()}"


def _sections() -> dict[str, type[Section]]:
    sections: dict[str, type[Section]] = {}
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, Section):
            sections[name] = field.annotation
    return sections


# Every RESTOCK_* variable of a section field, without the prefix and lower case -> (section, field).
ENV_NAMES: dict[str, tuple[str, str]] = {
    section_cls.env_name(field): (section, field)
    for section, section_cls in _sections().items()
    for field in section_cls.model_fields
}


def env_name(location: tuple[int | str, ...]) -> str:
    """The RESTOCK_* variable of a field given by its location in Settings (as in a validation error)."""
    parts = [str(part) for part in location]
    if len(parts) >= 2:
        section_cls = _sections().get(parts[0])
        if section_cls is not None and parts[1] in section_cls.model_fields:
            return ENV_PREFIX + section_cls.env_name(parts[1]).upper()
    return ENV_PREFIX + "_".join(parts).upper()


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments with flat names (`smtp_from=…`) moved into their sections (`smtp={"sender": …}`)."""
    nested: dict[str, Any] = {}
    flat: list[tuple[str, str, Any]] = []
    for key, value in values.items():
        place = ENV_NAMES.get(key.lower())
        if place is None:
            nested[key] = value
        else:
            flat.append((*place, value))
    for section, field, value in flat:
        current = nested.get(section, {})
        if isinstance(current, BaseModel):
            current = current.model_dump(exclude_unset=True)
        nested[section] = {**current, field: value}
    return nested


class _SectionVariables(PydanticBaseSettingsSource):
    """Section fields read from their RESTOCK_* names in the variables an env or .env source has loaded."""

    def __init__(self, settings_cls: type[BaseSettings], source: EnvSettingsSource) -> None:
        super().__init__(settings_cls)
        self.source = source

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: __call__ reads whole sections."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """{section: {field: raw value}} of the variables that are set."""
        variables = self.source.env_vars
        sensitive = self.source.case_sensitive
        values: dict[str, dict[str, Any]] = {}
        for name, (section, field) in ENV_NAMES.items():
            key = ENV_PREFIX + name.upper() if sensitive else (ENV_PREFIX + name).lower()
            value = variables.get(key)
            if value is not None:
                values.setdefault(section, {})[field] = value
        return values
