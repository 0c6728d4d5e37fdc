"""Device logins on the NATS cluster: what a connect costs, against mosquitto in the same run.

    python -m bench.nats_connect [--devices 2000] [--repeat 3] [--sessions 200] [--parallel 50]

Figures, never assertions (docs/scale-out.md sizes the cluster on them):
- the hash check behind one device login: bcrypt at the device cost and at bcrypt's default, and the hub's
  light argon2id, median of repeated checks;
- MQTT connects per second (clean sessions, a login each) on one NATS node of a 3-node cluster, against one
  mosquitto with PBKDF2 password lines, the same devices and the same client, median of --repeat runs;
- memory per connected device: the NATS node's and mosquitto's resident memory with all devices connected,
  over the same process before they connected;
- a reload of the logins file (what a device add or revoke costs each node) at --devices users and at
  --reload-users users (one shared hash: nats-server does not check hashes when it loads them);
- the first connect of a persistent session (clean_session=0 and a QoS1 cmd subscription, which creates a
  replicated JetStream consumer), with the consumer state in memory (the set-up's choice) and on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt
from rich.console import Console
from rich.table import Table

from hub.broker.credentials import DEVICE_SECRET_HASHER, HUB_USERNAME
from hub.broker.mosquitto import MosquittoConfig, MosquittoProcess, free_port
from hub.broker.mosquitto_auth import write_acl_file, write_password_file
from hub.broker.nats_auth import DEVICE_BCRYPT_ROUNDS, DeviceLogin, nats_secret_hash, write_auth
from hub.broker.nats_cluster import NatsCluster, reload_nodes
from hub.broker.probe import connect_packet

console = Console()


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of fn over repeat calls."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def hash_costs(repeat: int) -> list[tuple[str, float]]:
    """Median ms of one verification for each scheme a login may be checked with."""
    secret = secrets.token_urlsafe(24).encode()
    device = bcrypt.hashpw(secret, bcrypt.gensalt(DEVICE_BCRYPT_ROUNDS))
    default = bcrypt.hashpw(secret, bcrypt.gensalt(12))
    argon = DEVICE_SECRET_HASHER.hash(secret.decode())
    return [
        (
            f"bcrypt cost {DEVICE_BCRYPT_ROUNDS} (NATS device logins)",
            1000 * timed(lambda: bcrypt.checkpw(secret, device), repeat * 20),
        ),
        ("bcrypt cost 12 (bcrypt's default)", 1000 * timed(lambda: bcrypt.checkpw(secret, default), max(3, repeat))),
        (
            "argon2id light (hub's own check)",
            1000 * timed(lambda: DEVICE_SECRET_HASHER.verify(argon, secret.decode()), repeat * 20),
        ),
    ]


def subscribe_packet(packet_id: int, topic: str) -> bytes:
    """A QoS1 SUBSCRIBE."""
    data = topic.encode()
    body = packet_id.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data + b"\x01"
    return bytes((0x82, len(body))) + body


def persistent_connect_packet(client_id: str, username: str, password: str) -> bytes:
    """connect_packet with clean_session=0 (the session, and its QoS1 queue, outlive the connection)."""
    packet = bytearray(connect_packet(client_id, username, password, keepalive=60))
    flags_at = packet.index(b"MQTT\x04") + 5
    packet[flags_at] &= ~0x02
    return bytes(packet)


async def login(
    port: int, user: str, password: str, hold: list[asyncio.StreamWriter] | None, persistent: bool = False
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    packet = persistent_connect_packet(user, user, password) if persistent else connect_packet(user, user, password, 60)
    writer.write(packet)
    head = await reader.readexactly(4)
    if head[0] != 0x20 or head[3] != 0:
        raise RuntimeError(f"{user} refused: {head!r}")
    if persistent:
        writer.write(subscribe_packet(1, f"restock/v1/{user}/cmd"))
        suback = await reader.readexactly(5)
        if suback[0] != 0x90 or suback[4] != 1:
            raise RuntimeError(f"{user} subscription refused: {suback!r}")
    if hold is not None:
        hold.append(writer)
    else:
        writer.write(b"\xe0\x00")
        writer.close()


async def connect_all(
    port: int,
    creds: list[tuple[str, str]],
    parallel: int,
    hold: list[asyncio.StreamWriter] | None,
    persistent: bool = False,
) -> float:
    """Seconds to log every device in, parallel at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(user: str, password: str) -> None:
        async with gate:
            await login(port, user, password, hold, persistent)

    started = time.perf_counter()
    await asyncio.gather(*(one(u, p) for u, p in creds))
    return time.perf_counter() - started


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def measure_broker(
    port: int, pid: int, creds: list[tuple[str, str]], args: argparse.Namespace
) -> tuple[float, float, tuple[float, float]]:
    """(median connects/s, spread low, spread high) over --repeat runs, then KiB per held connection."""
    rates = []
    for _ in range(args.repeat):
        seconds = await connect_all(port, creds, args.parallel, None)
        rates.append(len(creds) / seconds)
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    held: list[asyncio.StreamWriter] = []
    await connect_all(port, creds, args.parallel, held)
    await asyncio.sleep(2.0)
    per_device = (rss_kib(pid) - before) / len(creds)
    for writer in held:
        writer.close()
    await asyncio.sleep(1.0)
    rates.sort()
    return statistics.median(rates), per_device, (rates[0], rates[-1])


def reload_seconds(cluster: NatsCluster, logins: list[DeviceLogin], repeat: int) -> float:
    """Median seconds from writing the logins file to every node showing it reloaded."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for config in cluster.configs:
            write_auth(config.auth_path, cluster.hub_password_hash, logins)
        late = reload_nodes([(c, n.pid) for c, n in zip(cluster.configs, cluster.nodes, strict=True)], timeout=60)
        if late:
            raise RuntimeError(f"nodes {late} did not reload")
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


async def persistent_first_connect(root: Path, memory: bool, creds: list[tuple[str, str]], parallel: int) -> float:
    """ms per device for the first persistent-session connect (consumer created), on a fresh 3-node cluster."""
    hub_password = secrets.token_urlsafe(12)
    cluster = NatsCluster(root, 3, hub_password=hub_password, consumer_memory_storage=memory)
    cluster.start(60)
    try:
        logins = [DeviceLogin(u, nats_secret_hash(p)) for u, p in creds]
        for config in cluster.configs:
            write_auth(config.auth_path, cluster.hub_password_hash, logins)
        reload_nodes([(c, n.pid) for c, n in zip(cluster.configs, cluster.nodes, strict=True)])
        node = cluster.nodes[0]
        await login(node.mqtt_port, HUB_USERNAME, hub_password, None, False)  # creates the MQTT streams first
        await login(node.mqtt_port, creds[0][0], creds[0][1], None, True)
        seconds = await connect_all(node.mqtt_port, creds[1:], parallel, None, persistent=True)
        return 1000 * seconds / (len(creds) - 1)
    finally:
        cluster.stop()


async def main_async(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = Path(tempfile.mkdtemp(prefix="restock-bench-nats-"))
    creds = [(f"dev-{n:05d}", secrets.token_urlsafe(24)) for n in range(args.devices)]

    table = Table(title="one login's hash check (median)")
    table.add_column("scheme")
    table.add_column("ms", justify="right")
    for name, ms in hash_costs(args.repeat):
        table.add_row(name, f"{ms:.2f}")
    console.print(table)

    with console.status(f"hashing {len(creds)} device logins"):
        logins = [DeviceLogin(u, nats_secret_hash(p)) for u, p in creds]
    hub_password = secrets.token_urlsafe(12)
    cluster = NatsCluster(work / "nats", 3, hub_password=hub_password)
    cluster.start(60)
    results = []
    try:
        for config in cluster.configs:
            write_auth(config.auth_path, cluster.hub_password_hash, logins)
        reload_nodes([(c, n.pid) for c, n in zip(cluster.configs, cluster.nodes, strict=True)])
        node = cluster.nodes[0]
        reloads = [(len(logins), reload_seconds(cluster, logins, args.repeat))]
        shared = logins[0].secret_hash
        many = [DeviceLogin(f"load-{n:06d}", shared) for n in range(args.reload_users)]
        reloads.append((len(many), reload_seconds(cluster, many, args.repeat)))
        reload_seconds(cluster, logins, 1)
        with console.status("NATS connects"):
            results.append(("NATS 2.15.1 node (bcrypt)", *await measure_broker(node.mqtt_port, node.pid, creds, args)))
    finally:
        cluster.stop()

    password_file = work / "mosquitto" / "passwd"
    write_password_file(password_file, {HUB_USERNAME: hub_password, **dict(creds)})
    write_acl_file(work / "mosquitto" / "acl")
    broker = MosquittoProcess(
        MosquittoConfig(
            port=free_port(),
            data_dir=work / "mosquitto",
            password_file=password_file,
            acl_file=work / "mosquitto" / "acl",
            persistence=False,
            extra=("max_connections -1",),
        )
    )
    broker.start()
    try:
        assert broker.pid is not None
        with console.status("mosquitto connects"):
            results.append(("mosquitto (PBKDF2)", *await measure_broker(broker.port, broker.pid, creds, args)))
    finally:
        broker.stop()

    table = Table(title=f"{len(creds)} devices, clean-session logins, {args.parallel} at a time")
    for column in ("broker", "connects/s (median)", "spread", "KiB per connected device", "÷ mosquitto"):
        table.add_column(column, justify="right")
    base = results[-1][1]
    for name, rate, per_device, (low, high) in results:
        table.add_row(name, f"{rate:.0f}", f"{low:.0f}-{high:.0f}", f"{per_device:.1f}", f"{rate / base:.2f}")
    console.print(table)

    table = Table(title="reload of the logins file on 3 nodes at once (median, until /varz shows it applied)")
    table.add_column("device users", justify="right")
    table.add_column("ms", justify="right")
    for users, seconds in reloads:
        table.add_row(str(users), f"{1000 * seconds:.0f}")
    console.print(table)

    table = Table(title=f"first persistent-session connect ({args.sessions} devices, 3-node cluster)")
    table.add_column("consumer state")
    table.add_column("ms per device", justify="right")
    sessions = creds[: args.sessions]
    for memory in (True, False):
        with console.status(f"persistent sessions, memory={memory}"):
            ms = await persistent_first_connect(work / f"sessions-{memory}", memory, sessions, args.parallel)
        table.add_row("memory (chosen)" if memory else "file", f"{ms:.1f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=50)
    parser.add_argument("--reload-users", type=int, default=20000)
    asyncio.run(main_async(parser.parse_args()))
