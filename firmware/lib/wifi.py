# Station Wi-Fi: remembers the access point (BSSID, channel) in RTC memory so a wake from deep
# sleep skips the scan, and backs off between attempts so a dead AP does not drain the battery.
import json
import random
import time

from log import debug, warn


class Backoff:
    """Exponential delays base, 2*base, ... capped at top, each plus up to 1/8 at random against herds."""

    def __init__(self, base_ms, top_ms, n=0):
        self.base = base_ms
        self.top = top_ms
        self.n = n

    def next_ms(self):
        d = min(self.top, self.base * (1 << min(self.n, 16)))
        self.n += 1
        # random, not the clock: devices that woke together read the same ticks (protocol §7.4)
        return d + (d >> 11) * random.getrandbits(8)


class Wifi:
    def __init__(self, board, ssid, password):
        self.board = board
        self.ssid = ssid
        self.password = password
        self.wlan = board.wlan()

    def _cached(self):
        try:
            c = json.loads(self.board.rtc_read() or b"{}").get("ap")
            return (bytes(c[0]), c[1]) if c and c[0] else None
        except (ValueError, TypeError, KeyError, IndexError):
            return None

    def _remember(self, ap):
        try:
            state = json.loads(self.board.rtc_read() or b"{}")
        except ValueError:
            state = {}
        state["ap"] = [list(ap[0]), ap[1]] if ap else None
        self.board.rtc_write(json.dumps(state).encode())

    def _scan(self):
        best = None
        try:
            for net in self.wlan.scan():
                if net[0] == self.ssid.encode() and (best is None or net[3] > best[3]):
                    best = net
        except OSError as e:
            warn("wifi scan", e)
        return (bytes(best[1]), best[2]) if best else None

    def _try(self, ap, timeout_ms):
        try:
            if ap:
                self.wlan.connect(self.ssid, self.password, bssid=ap[0])
            else:
                self.wlan.connect(self.ssid, self.password)
        except OSError as e:
            warn("wifi connect", e)
            return False
        deadline = time.ticks_add(self.board.ticks_ms(), timeout_ms)
        while time.ticks_diff(deadline, self.board.ticks_ms()) > 0:
            if self.wlan.isconnected():
                return True
            self.board.sleep_ms(50)
        return False

    def connect(self, timeout_ms=10000):
        """Join the network; True when connected. Tries the remembered AP first."""
        self.wlan.active(True)
        if self.wlan.isconnected():
            return True
        ap = self._cached()
        if ap and self._try(ap, timeout_ms // 2):
            debug("wifi: reused", ap[1])
            return True
        if ap:
            self._remember(None)  # the AP moved or changed channel: scan again
            try:
                self.wlan.disconnect()
            except OSError:
                pass
        ap = self._scan()
        if self._try(ap, timeout_ms):
            if ap:
                self._remember(ap)
            return True
        warn("wifi: not connected")
        return False

    def rssi(self):
        try:
            return self.wlan.status("rssi") if self.wlan.isconnected() else None
        except (OSError, ValueError):
            return None

    def off(self):
        try:
            self.wlan.disconnect()
            self.wlan.active(False)
        except OSError:
            pass
