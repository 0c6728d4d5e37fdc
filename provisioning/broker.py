"""The mosquitto files live in the hub (`hub.broker.mosquitto_files`), which changes them on revoke; this module
only keeps their old import path working for callers that have not moved yet."""

from hub.broker.mosquitto_files import (
    DEFAULT_PORT,
    DEFAULT_TLS_PORT,
    BrokerFiles,
    ReloadNotConfirmed,
    add_device,
    add_if_configured,
    hub_password,
    hub_url,
    read_password_lines,
    reload,
    remove_device,
    revoke_if_configured,
    write_config,
)

__all__ = [
    "DEFAULT_PORT", "DEFAULT_TLS_PORT", "BrokerFiles", "ReloadNotConfirmed", "add_device", "add_if_configured",
    "hub_password", "hub_url", "read_password_lines", "reload", "remove_device", "revoke_if_configured",
    "write_config",
]
