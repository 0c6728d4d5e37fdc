"""Request bodies are limited before anything parses them: a declared oversize body is refused before it is
sent, a streamed one is cut as it passes the limit and never held in memory, and only upload routes take more."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests.hub.conftest import HubServer, sign_up

pytestmark = pytest.mark.broker

MIB = 1024 * 1024
DEFAULT_LIMIT = 64 * 1024
UPLOAD_LIMIT = 5 * MIB + 64 * 1024


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the limits act before any route touches the database."""
    return f"sqlite:///{tmp_path / 'restock.db'}"


def raw_request(server: HubServer, head: str, body: bytes = b"") -> bytes:
    """Send a request head (and optionally the start of a body) on a plain socket; the server's answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@contextmanager
def peak_rss(pid: int | None = None) -> Iterator[Callable[[], int]]:
    """Sample a process's resident memory (default: this one) while the block runs; yields the growth."""
    watched = psutil.Process(pid)
    baseline = watched.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, watched.memory_info().rss)
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak - baseline
    finally:
        done.set()
        sampler.join()


def stream(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON-looking body of `total` bytes, produced piece by piece (sent chunked: no Content-Length)."""
    yield b'{"household": "'
    sent = 15
    while sent < total - 2:
        piece = min(chunk, total - 2 - sent)
        yield b"x" * piece
        sent += piece
    yield b'"}'


def test_declared_oversize_body_is_refused_before_it_is_sent(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    head = (
        "POST /api/v1/signup HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        f"Content-Length: {20 * MIB}\r\n"
    )
    # Not a byte of the 20 MB is sent: the answer must come from the header alone.
    answer = raw_request(server, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", answer[:300]
    assert b"connection: close" in rest.lower()
    assert str(DEFAULT_LIMIT).encode() in answer


def test_streamed_oversize_body_is_cut_and_never_held(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.get("/healthz")  # everything a request needs is loaded before the baseline
        with peak_rss() as growth:
            response = client.post(
                "/api/v1/signup", content=stream(20 * MIB), headers={"Content-Type": "application/json"}
            )
    assert response.status_code == 413, response.text[:300]
    assert response.json() == {"detail": f"the request body is larger than {DEFAULT_LIMIT} bytes"}
    # Read whole, the body alone is 20 MB (40 MB while its pieces are joined).
    assert growth() < 8 * MIB, f"the hub grew by {growth() / MIB:.1f} MiB while refusing a 20 MB body"
    # The hub still answers normally on a new connection.
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_forms_and_json_routes_take_small_bodies_only(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api = sign_up(server.url)
    big = "x" * (DEFAULT_LIMIT + 1)
    over = api.post("/api/v1/merchants", json={"name": "shop", "url": "http://127.0.0.1:9/", "secret": big})
    assert over.status_code == 413, over.text[:300]
    under = api.post("/api/v1/merchants", json={"name": "shop", "url": "http://127.0.0.1:9/", "secret": "s" * 32})
    assert under.status_code == 201, under.text[:300]
    form = httpx.post(f"{server.url}/web/signin", data={"email": "a@example.org", "password": big}, timeout=20)
    assert form.status_code == 413
    # Chunked, without a Content-Length, the same.
    json_type = {"Content-Type": "application/json"}
    chunked = api.post("/api/v1/devices", content=stream(DEFAULT_LIMIT + 1024), headers=json_type)
    assert chunked.status_code == 413


def test_the_catalog_import_takes_files_up_to_its_own_limit(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api = sign_up(server.url)
    header = "sku,name,price,currency\n"
    rows = "".join(f"BIG-{n},A product with a rather long name number {n},1.{n % 90 + 10},EUR\n" for n in range(3000))
    csv = (header + rows).encode()
    assert DEFAULT_LIMIT < len(csv) < UPLOAD_LIMIT
    imported = api.post(
        "/api/v1/catalog/import", params={"dry_run": "true"}, content=csv, headers={"Content-Type": "text/csv"}
    )
    assert imported.status_code != 413, imported.text[:300]
    assert imported.status_code == 200, imported.text[:300]
    head = (
        "POST /api/v1/catalog/import HTTP/1.1\r\nHost: hub\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {UPLOAD_LIMIT + 1}\r\n"
    )
    assert raw_request(server, head).startswith(b"HTTP/1.1 413 ")
