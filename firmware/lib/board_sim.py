# The simulated board of the Unix port (docs/sim-board.md). Input, LEDs, Wi-Fi and time are driven
# over a line-based TCP control channel; flash is a folder. The channel is served whenever the firmware
# waits (wait, sleep_ms, next_edge, deepsleep), like hardware events.
# Kept small on purpose: bench/firmware measures the firmware's heap with this board in the place of
# board_esp32, so its every name and object counts against the firmware. What only some devices use
# (load cell, pulse input, scanner UART, buzzer) is in board_sim_io, loaded on first use. Board defines
# every member of the interface declared in board.py, and nothing else an app may use.
import gc
import json
import os
import select
import socket
import sys
import time

import micropython
from micropython import const

_GAP_MS = const(150)  # between the two presses of a synthetic double click
_OFF = const(0)  # Wi-Fi interface states
_ON = const(1)
_JOINED = const(2)
# A healthy, charged-but-used cell when sim.json names no voltage, by the device's cell (docs/hardware.md):
# the dash button's LiFePO4 reads ~85 % at 3.32 V, the others' Li-ion ~84 % at 4.0 V. One figure for all
# would read as a nearly empty battery on one of the two curves.
_UNSET = const(-1)
_LIFEPO4_MV = const(3320)
_LI_ION_MV = const(4000)


class Board:
    name = "sim"
    _io = None  # board_sim_io.Parts once a device uses one of them

    def __init__(self):
        self.flash = os.getenv("RESTOCK_SIM_FLASH") or "flash"
        try:
            os.mkdir(self.flash)
        except OSError:
            pass
        s = {"battery_mv": _UNSET, "rssi": -55, "wifi": True, "ssid": ""}
        try:
            with open(self.path("sim.json")) as f:
                s.update(json.load(f))
        except (OSError, ValueError):
            pass
        self.sim = s  # the starting state; board_sim_io takes the load cell's part of it
        self.wifi = s["wifi"]  # the radio link exists (the `wifi` command cuts and restores it)
        self.rssi = s["rssi"]
        self.ssid = s["ssid"]
        self.mv = s["battery_mv"]
        self._t0 = time.ticks_ms()
        self._offset = 0  # virtual ms added by synthetic presses and LED patterns
        self._edges = []  # (level, tick) of the button, oldest first
        # the button's level (1 = held) and the last wake's reason: public names because the firmware
        # interns "level" and "wake" anyway, where private ones would cost the dash button a pool of names
        self.level = 0
        self._wl = _OFF
        self._sock = None
        self._rtc = b""
        self.wake = "power"
        self._asleep = False
        self._led = "off"
        self.pattern = ""
        self._patterns = 0
        self._heap_base = None
        port = int(os.getenv("RESTOCK_SIM_PORT") or 7780)
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        self._srv.listen(2)
        self._poll = select.poll()
        self._poll.register(self._srv, select.POLLIN)
        self._clients = {}  # socket -> bytearray of unread input
        self._rx = bytearray(256)
        if os.getenv("RESTOCK_SIM_WAIT"):  # a driver wants every notification from boot on
            t = time.ticks_ms()
            while not self._clients and time.ticks_diff(time.ticks_ms(), t) < 10000:
                self._serve(100)

    def _parts(self):
        # the parts only some devices use (board_sim_io), loaded the first time one of them is touched
        if self._io is None:
            from board_sim_io import Parts

            self._io = Parts(self)
        return self._io

    # -- time and paths ---------------------------------------------------------------------
    def path(self, name):
        return self.flash + "/" + name

    def ticks_ms(self):
        return time.ticks_add(time.ticks_ms(), self._offset)

    def uptime_s(self):
        return time.ticks_diff(time.ticks_ms(), self._t0) // 1000

    def sleep_ms(self, ms):
        # LED patterns and debounce waits pass in virtual time: tests stay fast, ordering stays real.
        self._offset += ms
        self._serve(0)

    def wake_reason(self):
        return self.wake

    # -- button -----------------------------------------------------------------------------
    def next_edge(self, deadline):
        """Next debounced-or-not button edge (level, tick) at or before deadline, else None."""
        while True:
            if self._edges:
                if time.ticks_diff(self._edges[0][1], deadline) <= 0:
                    return self._edges.pop(0)
                return None
            left = time.ticks_diff(deadline, self.ticks_ms())
            if left <= 0:
                return None
            self._serve(min(left, 500))

    def edge_pending(self):
        self._serve(0)
        return bool(self._edges)

    def pressed(self):
        return self.level

    def uart_line(self):
        return self._parts().uart_line()

    def pin(self, name, mode=0):
        return self._parts().pin(name, mode)

    def hold(self, name, value):
        self._parts().hold(name, value)

    def _hold(self, seq):
        """Queue a synthetic press sequence (hold times, with contact bounce) in virtual time."""
        t = self.ticks_ms()
        for hold in seq:
            for lv, dt in ((1, 0), (0, 2), (1, 4), (0, hold), (1, hold + 3), (0, hold + 5)):
                self._edges.append((lv, time.ticks_add(t, dt)))
            t = time.ticks_add(t, hold + 5 + _GAP_MS)
        self._offset += time.ticks_diff(t, self.ticks_ms()) - _GAP_MS
        self.level = 0

    # -- outputs ----------------------------------------------------------------------------
    def led(self, c):
        if c != self._led:
            self._led = c
            self.note("led", c)

    def buzz(self, freq, ms):
        self._parts().buzz(freq, ms)

    def note(self, kind, msg):
        """Tell the control clients what happened: '* kind msg'."""
        if kind == "pattern":
            self.pattern = msg
            self._patterns += 1
        self._send("* %s %s\n" % (kind, msg))

    # -- power ------------------------------------------------------------------------------
    def battery_mv(self):
        if self.mv == _UNSET:
            # The kind is only known from the config, which setup mode may write after boot: look once it is there.
            try:
                with open(self.path("config.json")) as f:
                    kind = json.load(f).get("kind")
            except (OSError, ValueError, AttributeError):
                return _LI_ION_MV
            self.mv = _LIFEPO4_MV if kind == "dash_button" else _LI_ION_MV
        return self.mv

    def rtc_read(self):
        return self._rtc

    def rtc_write(self, data):
        self._rtc = bytes(data)

    def use_pins(self, pins):
        pass  # the sim's pins are named, not numbered

    # -- Wi-Fi: the board is its own network.WLAN ---------------------------------------------
    def wlan(self):
        return self

    def setup_ap(self, ssid, key=None):
        self.note("ap", ssid or "off")  # the sim has no radio: the setup server is on 127.0.0.1
        if ssid is not None:
            return int(os.getenv("RESTOCK_SIM_SETUP_PORT") or 0) or int(os.getenv("RESTOCK_SIM_PORT") or 7780) + 1

    def active(self, v=None):
        if v is not None:
            self._wl = _ON if v else _OFF
        return self._wl != _OFF

    def connect(self, ssid, key=None, bssid=None):
        if self._wl == _OFF:
            raise OSError(5)
        self.note("wifi", "connect bssid=%s" % ("cached" if bssid else "scan"))
        self._wl = _JOINED if self.wifi else _ON

    def isconnected(self):
        return self._wl == _JOINED and self.wifi

    def disconnect(self):
        # leaving the network breaks the open connection, as on hardware
        if self._sock:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        if self._wl == _JOINED:
            self._wl = _ON

    def status(self, kind=None):
        if kind == "rssi":
            return self.rssi
        return 1010 if self.isconnected() else 1001

    def scan(self):
        return [(self.ssid.encode(), b"\x02\x00\x00\x5e\x00\x01", 6, self.rssi, 3, False)] if self.wifi else []

    def tcp(self, host, port, timeout_ms):
        if not self.isconnected():
            raise OSError(113)  # EHOSTUNREACH: no radio link
        s = socket.socket()
        s.settimeout(timeout_ms / 1000)
        s.connect(socket.getaddrinfo(host, port)[0][-1])
        self._sock = s
        return s

    def wait(self, sock, ms):
        """Wait until sock is readable (True) or ms passed (False), serving the control channel."""
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while True:
            if self._serve(max(0, time.ticks_diff(deadline, time.ticks_ms())), sock):
                return True
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return False

    def deepsleep(self, ms=None, button=True, pulse=False):
        """Sleep until the button (or pulse, or timer) wakes us; then the app runs again from the top."""
        self.disconnect()
        self.led("off")
        self.note("sleep", ms if ms is not None else "none")
        self._asleep = True
        if self._heap_base is None:  # (not while `heap start` measures everything allocated)
            gc.collect()  # the ESP32 wakes with an empty heap; the sim returns from here, so at least sweep
        deadline = time.ticks_add(time.ticks_ms(), ms) if ms is not None else None
        reason = None
        while reason is None:
            if button and self._edges:
                reason = "button"
            elif pulse and self._io and self._io.pulses:
                reason = "pulse"
            elif deadline is not None and time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                reason = "timer"
            else:
                left = 500 if deadline is None else time.ticks_diff(deadline, time.ticks_ms())
                self._serve(max(0, min(left, 500)))
        self._asleep = False
        if self._io:
            if reason == "pulse":
                self._io.pulses -= 1  # as on the ESP32, the waking pulse is counted from wake_reason(), not by an irq
            self._io.woke()
        self.wake = reason
        self.note("wake", reason)
        if self._heap_base is None:
            gc.collect()

    # -- control channel --------------------------------------------------------------------
    def _send(self, text):
        for c in list(self._clients):
            try:
                c.write(text)
            except OSError:
                self._drop(c)

    def _drop(self, c):
        try:
            self._poll.unregister(c)
        except (OSError, KeyError, ValueError):
            pass
        c.close()
        self._clients.pop(c, None)

    def _serve(self, ms, sock=None):
        """Serve control clients for up to ms; True as soon as sock (if any) is readable."""
        if sock is not None:
            try:
                self._poll.register(sock, select.POLLIN)
            except (OSError, ValueError, TypeError):
                return True  # closed under us (Wi-Fi cut): let the reader fail
        try:
            events = self._poll.poll(ms)
        finally:
            if sock is not None:
                try:
                    self._poll.unregister(sock)
                except (OSError, KeyError, ValueError):
                    pass
        hit = False
        for obj, ev in events:
            if obj is sock:
                hit = True
            elif obj is self._srv:
                c, _ = self._srv.accept()
                self._clients[c] = bytearray()
                self._poll.register(c, select.POLLIN)
            elif obj in self._clients:
                self._read(obj)
        return hit

    def _read(self, c):
        # into one buffer kept for the whole run: the channel allocates nothing per read, so the sim
        # board does not add to the heap peaks the benchmark measures
        try:
            c.setblocking(False)  # take what poll saw, without waiting for a full buffer
            n = c.readinto(self._rx)
            c.setblocking(True)
        except OSError:
            n = 0
        if n is None:
            return
        if not n:
            self._drop(c)
            return
        buf = self._clients[c]
        buf.extend(memoryview(self._rx)[:n])
        while b"\n" in buf:
            i = buf.index(b"\n")
            line = bytes(buf[:i]).decode().strip()
            buf[: i + 1] = b""
            if line:
                try:
                    reply = "ok " + self._handle(line)
                except SystemExit:
                    raise
                except Exception as e:
                    reply = "err %r" % (e,)
                try:
                    c.write(reply.rstrip() + "\n")
                except OSError:
                    self._drop(c)
                    return

    def _handle(self, line):
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        if cmd == "press":
            k, _, v = arg.partition("=")
            if k == "ms":
                self._hold((int(v),))
            else:
                clicks = {"single": (80,), "double": (80, 90), "long": (2000,), "setup": (7000,), "factory": (16000,)}
                self._hold(clicks[v if k == "click" else (k or "single")])
        elif cmd == "down" or cmd == "up":
            self.level = 1 if cmd == "down" else 0
            self._edges.append((self.level, self.ticks_ms()))
        elif cmd == "wifi":
            self.wifi = arg == "on"
            if not self.wifi:
                self.disconnect()
        elif cmd == "state":
            io = self._io
            v = (self._led, self.pattern, self._patterns, io.buzzes if io else 0, self._asleep, self.wake,
                 self.wifi, len(self._edges) + (len(io.lines) if io else 0))
            return ('{"led": %s, "pattern": %s, "patterns": %s, "buzzes": %s, "asleep": %s, "wake": %s, '
                    '"wifi": %s, "queued": %s}') % tuple(json.dumps(x) for x in v)
        elif cmd == "heap":
            # A ROM image read into the heap by sim_romfs stands for memory-mapped flash: left out here.
            rom = sys.modules.get("_sim_rom_bytes", 0)
            if arg == "start":  # GC off until stop: what is allocated meanwhile bounds the peak from above
                gc.collect()
                self._heap_base = gc.mem_alloc() - rom
                gc.disable()
            elif arg == "stop" and self._heap_base is not None:
                used = gc.mem_alloc() - rom - self._heap_base
                gc.enable()
                gc.collect()
                base, self._heap_base = self._heap_base, None
                return "base=%d peak=%d alloc=%d" % (base, base + used, used)
            else:
                gc.collect()
                micropython.qstr_info()  # on the console: how many names are interned (bench/firmware)
            return "alloc=%d free=%d rom=%d" % (gc.mem_alloc() - rom, gc.mem_free(), rom)
        elif cmd == "exit":
            sys.exit(int(arg or 0))
        else:
            return self._parts().command(cmd, arg, line)
        return cmd
