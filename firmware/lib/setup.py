# Setup mode (a hold past clicks._SETUP_MS; docs/hardware.md "Setup mode"): the device opens its own access
# point and takes a new config.json over plain HTTP (PUT /config). Leaves on a press, a valid upload or a timeout.
import json
import socket
import time

from micropython import const

import config
import feedback
from log import warn

SETUP_MS = const(600000)
BODY_MAX = const(2048)


def _reply(c, code, text):
    c.write(b"HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s\n" % (
        code, b"OK" if code == 200 else b"Bad Request", text.encode()))


def _handle(board, c, kind):
    c.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 1024:
        chunk = c.read(1)
        if not chunk:
            return False
        head += chunk
    lines = head.split(b"\r\n")
    method_path = lines[0].split()
    n = 0
    for ln in lines[1:]:
        if ln.lower().startswith(b"content-length:"):
            n = int(ln[15:].strip())
    if len(method_path) < 2 or method_path[1] != b"/config" or method_path[0] not in (b"PUT", b"POST"):
        _reply(c, 200, "restock setup: PUT /config with the device's config.json")
        return False
    if not 0 < n <= BODY_MAX:
        _reply(c, 400, "body must be 1..%d bytes" % BODY_MAX)
        return False
    body = c.read(n)
    try:
        cfg = config.validate(json.loads(body), kind)
    except (ValueError, config.ConfigError) as e:
        _reply(c, 400, "config rejected: %s" % e)
        return False
    with open(board.path("config.json"), "w") as f:
        f.write(json.dumps(cfg))
    _reply(c, 200, "saved; restarting")
    return True


def run(board, cfg):
    """Serve setup until done; the caller then restarts the device (a deep sleep that wakes at once)."""
    feedback.show(board, "setup")
    port = board.setup_ap("restock-" + cfg["device_id"], cfg["secret"])  # WPA2 with the device secret
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(socket.getaddrinfo("0.0.0.0", port)[0][-1])
    srv.listen(1)
    board.note("setup", "on")
    deadline = time.ticks_add(time.ticks_ms(), SETUP_MS)
    # The hold that got us here is still going on: a press counts only after a quiet release.
    level = board.pressed()
    quiet = board.ticks_ms()
    armed = False
    try:
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            if board.wait(srv, 200):
                c, _ = srv.accept()
                try:
                    if _handle(board, c, cfg["kind"]):
                        break
                except (OSError, ValueError) as e:
                    warn("setup:", e)
                finally:
                    c.close()
            e = board.next_edge(board.ticks_ms())
            while e is not None and not (armed and e[0]):
                level, quiet = e
                e = board.next_edge(board.ticks_ms())
            if e is not None:
                break
            armed = armed or (not level and time.ticks_diff(board.ticks_ms(), quiet) > 500)
    finally:
        srv.close()
        board.setup_ap(None)
        board.led("off")
        board.note("setup", "off")
