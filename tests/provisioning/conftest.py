"""Fixtures for provisioning tests: generated mosquitto files in a data folder, and a broker running them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.broker import mosquitto_files as brokerfiles
from hub.broker.mosquitto import MosquittoProcess, free_port
from provisioning import pki


@dataclass
class GeneratedBroker:
    """mosquitto started from the files `restock broker config` writes."""

    data_dir: Path
    files: brokerfiles.BrokerFiles
    pki: pki.PkiPaths
    process: MosquittoProcess

    @property
    def port(self) -> int:
        """Plain listener (the hub's)."""
        return self.process.config.port

    @property
    def tls_port(self) -> int:
        """TLS listener (devices)."""
        assert self.process.config.tls_port is not None
        return self.process.config.tls_port

    @property
    def hub_password(self) -> str:
        """The hub account's password."""
        return brokerfiles.hub_password(self.files)


@pytest.fixture
def generated_broker(tmp_path: Path) -> Iterator[GeneratedBroker]:
    """PKI + `broker config` files in a temp data folder, and mosquitto running them (TLS on 127.0.0.1)."""
    data_dir = tmp_path / "data"
    paths = pki.PkiPaths(data_dir / "pki")
    pki.init(paths, ["localhost", "127.0.0.1"])
    files = brokerfiles.BrokerFiles.in_data_dir(data_dir)
    config = brokerfiles.write_config(files, port=free_port(), pki=paths, tls_port=free_port(), tls_bind="127.0.0.1")
    process = MosquittoProcess(config)
    process.start()
    yield GeneratedBroker(data_dir, files, paths, process)
    process.stop()
