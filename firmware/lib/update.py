# Signed firmware updates over `cmd` (docs/protocol.md §5, docs/security.md). An `update` command
# announces version, manifest size and manifest SHA-256, authenticated with the per-device update key
# (HMAC-SHA256). `update_data` chunks then carry the manifest (file 0) and every file it lists into
# fw/stage/. Nothing switches until every file matches its SHA-256; then the files become fw/<version>/,
# fwslot makes it the boot slot (the old one stays for rollback) and the device reboots.
import binascii
import hashlib
import json
import os

from micropython import const

import fwslot
from hmacsha import mac_hex, same
from log import warn

TAG = b"restock-update-v1\n"
STAGE = "fw/stage"
FILES_MAX = const(64)
MANIFEST_MAX = const(8192)
TOTAL_MAX = 262144  # one slot; an ESP32 without PSRAM has ~1.4 MB of flash for files
_PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-./"


def _size(p):
    try:
        return os.stat(p)[6]
    except OSError:
        return -1


def _sha_hex(p):
    h = hashlib.sha256()
    buf = bytearray(512)
    with open(p, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf[:n] if n < len(buf) else buf)
    return binascii.hexlify(h.digest()).decode()


def _mkdirs(p):
    cur = ""
    for part in p.split("/"):
        if not part:
            continue
        cur = cur + "/" + part if cur or p.startswith("/") else part
        try:
            os.mkdir(cur)
        except OSError:
            pass  # exists


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _path_ok(p):
    if not isinstance(p, str) or not 1 <= len(p) <= 64 or p[0] == "/" or p[-1] == "/":
        return False
    for ch in p:
        if ch not in _PATH_CHARS:
            return False
    for part in p.split("/"):
        if part in ("", ".", ".."):
            return False
    return True


def _hex64(v):
    if not isinstance(v, str) or len(v) != 64:
        return False
    for ch in v:
        if ch not in "0123456789abcdef":
            return False
    return True


class Updater:
    def __init__(self, board, cfg):
        self.board = board
        self.device_id = cfg["device_id"]
        self.key = cfg.get("update_key") or ""
        self.stage = board.path(STAGE)
        self.info = None  # {"v": version, "h": manifest sha256, "n": manifest size} being staged
        self.files = None  # [[path, size, sha256], ...] once the manifest arrived and checked out
        try:  # resume after a reboot: the hub's chunks keep coming from the persistent session
            with open(self.stage + "/info.json") as f:
                self.info = json.load(f)
            if _size(self.stage + "/m") == self.info["n"]:
                self._manifest()
        except (OSError, ValueError, KeyError, TypeError):
            self.info = None

    def busy(self):
        """True while an announced update is being received: the app stays awake for it."""
        return self.info is not None

    def handle(self, msg):
        if msg["type"] == "update":
            self._announce(msg)
        else:
            self._data(msg)

    def _refuse(self, why, v=None):
        warn("update refused:", why)
        self.board.note("update", "refused %s" % why)
        self.info = None
        self.files = None
        fwslot.rmtree(self.stage)

    def _announce(self, msg):
        v, h, n, mac = msg.get("version"), msg.get("manifest"), msg.get("size"), msg.get("mac")
        if not (_is_int(v) and v > 0 and _hex64(h) and _is_int(n) and 0 < n <= MANIFEST_MAX and isinstance(mac, str)):
            return self._refuse("malformed")
        want = mac_hex(self.key, TAG + ("%s\n%d\n%d\n%s" % (self.device_id, v, n, h)).encode())
        if want is None:
            return self._refuse("nokey")
        if not same(want, mac.encode()):
            return self._refuse("mac")
        if v <= fwslot.floor():
            return self._refuse("stale")
        if self.info is not None and self.info["v"] == v and self.info["h"] == h:
            return  # the announcement again (a resend): keep what arrived so far
        fwslot.rmtree(self.stage)
        _mkdirs(self.stage)
        self.info = {"v": v, "h": h, "n": n}
        self.files = None
        with open(self.stage + "/info.json", "w") as f:
            f.write(json.dumps(self.info))
        self.board.note("update", "start %d" % v)

    def _target(self, i):
        if i == 0:
            return self.stage + "/m", self.info["n"]
        if self.files is None or not 1 <= i <= len(self.files):
            return None, 0
        return "%s/f%d" % (self.stage, i), self.files[i - 1][1]

    def _data(self, msg):
        info = self.info
        if info is None or msg.get("version") != info["v"]:
            return  # not the update being staged (e.g. the rest of a refused one)
        i, off, data = msg.get("file"), msg.get("offset"), msg.get("data")
        if not (_is_int(i) and _is_int(off) and isinstance(data, str)):
            return self._refuse("malformed")
        path, want = self._target(i)
        if path is None:
            return  # a file chunk before the manifest: the hub sends them in order, resends fill gaps
        try:
            raw = binascii.a2b_base64(data)
        except ValueError:
            return self._refuse("malformed")
        have = max(_size(path), 0)
        if off != have:
            return  # off < have: a duplicate (QoS 1 redelivery); off > have: a gap, the resend fills it
        if off + len(raw) > want:
            return self._refuse("size")
        with open(path, "ab") as f:
            f.write(raw)
        if off + len(raw) < want:
            return
        if i == 0:
            if _sha_hex(path) != info["h"]:
                return self._refuse("manifest")
            self._manifest()
        if self.files is not None and self._complete():
            self._switch()

    def _manifest(self):
        try:
            with open(self.stage + "/m") as f:
                m = json.load(f)
        except (OSError, ValueError):
            return self._refuse("manifest")
        files = m.get("files") if isinstance(m, dict) else None
        if m.get("version") != self.info["v"] or m.get("device") != self.device_id or not isinstance(files, list):
            return self._refuse("manifest")
        if not 1 <= len(files) <= FILES_MAX:
            return self._refuse("manifest")
        total = 0
        for e in files:
            if not (isinstance(e, list) and len(e) == 3 and _path_ok(e[0]) and _is_int(e[1]) and e[1] >= 0
                    and _hex64(e[2])):
                return self._refuse("manifest")
            total += e[1]
        if total > TOTAL_MAX:
            return self._refuse("space")
        try:
            st = os.statvfs(self.stage)
            if st[0] * st[4] < total + 4096:
                return self._refuse("space")
        except (OSError, AttributeError):
            pass  # no statvfs: the write fails instead, and the update with it
        self.files = files
        for n, e in enumerate(files):  # empty files are complete at once
            if e[1] == 0:
                open("%s/f%d" % (self.stage, n + 1), "wb").close()

    def _complete(self):
        for n, e in enumerate(self.files):
            if _size("%s/f%d" % (self.stage, n + 1)) != e[1]:
                return False
        return True

    def _switch(self):
        for n, e in enumerate(self.files):
            if _sha_hex("%s/f%d" % (self.stage, n + 1)) != e[2]:
                return self._refuse("hash " + e[0])
        v = self.info["v"]
        slot = "fw/%d" % v
        base = self.board.path(slot)
        fwslot.rmtree(base)  # a switch cut short by power loss
        for n, e in enumerate(self.files):
            dst = base + "/" + e[0]
            _mkdirs(dst[: dst.rfind("/")])
            os.rename("%s/f%d" % (self.stage, n + 1), dst)
        fwslot.activate(v, slot)
        fwslot.rmtree(self.stage)
        self.info = None
        self.board.note("update", "switch %d" % v)
        fwslot.reset()
