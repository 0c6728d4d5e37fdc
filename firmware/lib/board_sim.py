# The simulated board of the Unix port (docs/sim-board.md). Input, LEDs, buzzer, Wi-Fi and the
# sensor pins are driven over a line-based TCP control channel; flash is a folder. The channel is
# served whenever the firmware waits (wait, sleep_ms, next_edge, deepsleep), like hardware events.
import gc
import json
import os
import select
import socket
import sys
import time

from micropython import const

from board_sim_io import SimPin, SimWLAN
from log import debug

_IN = const(0)
_CLICKS = {"single": (80,), "double": (80, 90), "long": (2000,), "setup": (7000,), "factory": (16000,)}
_GAP_MS = const(150)  # between the two presses of a synthetic double click


def _addr(host, port):
    return socket.getaddrinfo(host, port)[0][-1]


class Board:
    name = "sim"

    def __init__(self):
        self.flash = os.getenv("RESTOCK_SIM_FLASH") or "flash"
        try:
            os.mkdir(self.flash)
        except OSError:
            pass
        self.state = {"level": 0.0, "noise": 0.0, "battery_mv": 3000, "rssi": -55, "wifi": True,
                      "hx_offset": 8000, "hx_scale": 420.0, "ssid": ""}
        try:
            with open(self.path("sim.json")) as f:
                self.state.update(json.load(f))
        except (OSError, ValueError):
            pass
        s = self.state
        self.wifi_on = s["wifi"]
        self.rssi = s["rssi"]
        self.ssid = s["ssid"]
        self._t0 = time.ticks_ms()
        self._offset = 0  # virtual ms added by synthetic presses and LED patterns
        self._edges = []  # (level, tick) of the button, oldest first
        self._level = 0
        self._lines = []  # scanner UART lines
        self._pulses = 0  # pulses not yet delivered to an irq handler
        self.irqs = {}
        self._socks = []
        self._wlan = None
        self._rtc = b""
        self._wake = "power"
        self._asleep = False
        self.led_colour = "off"
        self.pattern = ""
        self.patterns = 0
        self.buzzes = 0
        self._hx = 0  # clock pulses into the current HX711 conversion
        self._hx_word = 0
        self._hx_dout = 0
        self._seed = 12345
        self._heap_base = None
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(_addr("127.0.0.1", int(os.getenv("RESTOCK_SIM_PORT") or 7780)))
        self._srv.listen(2)
        self._poll = select.poll()
        self._poll.register(self._srv, select.POLLIN)
        self._clients = {}  # socket -> bytearray of unread input
        self._rx = bytearray(256)
        self._rxv = memoryview(self._rx)
        self.setup_port = int(os.getenv("RESTOCK_SIM_SETUP_PORT") or 0) or int(os.getenv("RESTOCK_SIM_PORT") or 7780) + 1
        debug("sim board: flash", self.flash)
        if os.getenv("RESTOCK_SIM_WAIT"):  # a driver wants every notification from boot on
            t = time.ticks_ms()
            while not self._clients and time.ticks_diff(time.ticks_ms(), t) < 10000:
                self._serve(100)

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
        return self._wake

    # -- inputs -----------------------------------------------------------------------------
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
        return self._level

    def uart_line(self):
        self._serve(0)
        return self._lines.pop(0) if self._lines else None

    def wake_pulses(self):
        return 0  # pulses that arrived in sleep reach the irq handler once it is registered

    def pin(self, name, mode=_IN, pull=None):
        return SimPin(self, name)

    def hold(self, name, value):
        self.pin_write(name, value)

    def pin_write(self, name, v):
        if name == "hx_sck":
            if v and self._hx < 32:
                if self._hx == 0:
                    self._hx_word = self._hx711_raw() & 0xFFFFFF
                self._hx += 1
                self._hx_dout = (self._hx_word >> (24 - self._hx)) & 1 if self._hx <= 24 else 1
            elif not v and self._hx >= 25:
                self._hx = 0  # conversion done; the model has the next one ready at once
                self._hx_dout = 0

    def pin_read(self, name):
        if name == "hx_dout":
            return self._hx_dout
        return 0

    def _rand(self):
        self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
        return self._seed / 0x7FFFFFFF

    def _hx711_raw(self):
        s = self.state
        g = s["level"] + (self._rand() * 2 - 1) * s["noise"]
        return int(s["hx_offset"] + g * s["hx_scale"])

    def fire_pulses(self):
        h = self.irqs.get("pulse")
        while h is not None and self._pulses and not self._asleep:
            self._pulses -= 1
            h(None)

    # -- outputs ----------------------------------------------------------------------------
    def led(self, colour):
        if colour != self.led_colour:
            self.led_colour = colour
            self.note("led", colour)

    def buzz(self, freq, ms):
        self.buzzes += 1
        self.note("buzz", "%d %d" % (freq, ms))
        self.sleep_ms(ms)

    def note(self, what, detail):
        """Tell the control clients what happened: '* what detail'."""
        if what == "pattern":
            self.pattern = detail
            self.patterns += 1
        self._send_all("* %s %s\n" % (what, detail))

    # -- power and radio --------------------------------------------------------------------
    def battery_mv(self):
        return self.state["battery_mv"]

    def rtc_read(self):
        return self._rtc

    def rtc_write(self, data):
        self._rtc = bytes(data)

    def use_pins(self, pins):
        pass  # the sim's pins are named, not numbered

    def setup_ap(self, ssid, key=None):
        self.note("ap", ssid or "off")  # the sim has no radio: the setup server is on 127.0.0.1

    def wlan(self):
        if self._wlan is None:
            self._wlan = SimWLAN(self)
        return self._wlan

    def tcp(self, host, port, timeout_ms):
        if not (self.wifi_on and self._wlan and self._wlan.isconnected()):
            raise OSError(113)  # EHOSTUNREACH: no radio link
        s = socket.socket()
        s.settimeout(timeout_ms / 1000)
        s.connect(_addr(host, port))
        self._socks = [s]
        return s

    def _cut(self):
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
        self._socks = []
        if self._wlan:
            self._wlan.disconnect()

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
        self._cut()
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
            elif pulse and self._pulses:
                reason = "pulse"
            elif deadline is not None and time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                reason = "timer"
            else:
                left = 500 if deadline is None else time.ticks_diff(deadline, time.ticks_ms())
                self._serve(max(0, min(left, 500)))
        self._asleep = False
        self.irqs = {}
        self._hx = self._hx_dout = 0  # the HX711 restarts when its clock line comes out of power-down
        self._wake = reason
        self.note("wake", reason)
        if self._heap_base is None:
            gc.collect()

    # -- control channel --------------------------------------------------------------------
    def _send_all(self, text):
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
                self._read_client(obj)
        return hit

    def _read_client(self, c):
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
        buf.extend(self._rxv[:n])
        while b"\n" in buf:
            i = buf.index(b"\n")
            line = bytes(buf[:i]).decode().strip()
            buf[: i + 1] = b""
            if line:
                try:
                    reply = "ok " + self._command(line)
                except SystemExit:
                    raise
                except Exception as e:
                    reply = "err %r" % (e,)
                try:
                    c.write(reply.rstrip() + "\n")
                except OSError:
                    self._drop(c)
                    return

    def _hold(self, holds):
        """Queue a synthetic press sequence (with contact bounce) in virtual time."""
        t = self.ticks_ms()
        for hold in holds:
            for lv, dt in ((1, 0), (0, 2), (1, 4), (0, hold), (1, hold + 3), (0, hold + 5)):
                self._edges.append((lv, time.ticks_add(t, dt)))
            t = time.ticks_add(t, hold + 5 + _GAP_MS)
        self._offset += time.ticks_diff(t, self.ticks_ms()) - _GAP_MS
        self._level = 0

    def _command(self, line):
        parts = line.split()
        cmd = parts[0]
        arg = parts[1] if len(parts) > 1 else ""
        s = self.state
        if cmd == "press":
            if arg.startswith("ms="):
                self._hold((int(arg[3:]),))
            else:
                self._hold(_CLICKS[arg[6:] if arg.startswith("click=") else (arg or "single")])
        elif cmd == "down" or cmd == "up":
            self._level = 1 if cmd == "down" else 0
            self._edges.append((self._level, self.ticks_ms()))
        elif cmd == "scan" or cmd == "trigger":
            self._hold((50,))
            if cmd == "scan":
                self._lines.append(arg.encode())
        elif cmd == "uart":
            self._lines.append(line[5:].encode())
        elif cmd == "level" or cmd == "noise":
            s[cmd] = float(arg)
        elif cmd == "pulse":
            self._pulses += int(arg or 1)
            self.fire_pulses()
        elif cmd == "battery":
            s["battery_mv"] = None if arg == "none" else int(arg)
        elif cmd == "rssi":
            self.rssi = int(arg)
        elif cmd == "wifi":
            self.wifi_on = arg == "on"
            if not self.wifi_on:
                self._cut()
        elif cmd == "state":
            return json.dumps({"led": self.led_colour, "pattern": self.pattern, "patterns": self.patterns,
                               "buzzes": self.buzzes, "asleep": self._asleep, "wake": self._wake,
                               "wifi": self.wifi_on, "queued": len(self._edges) + len(self._lines)})
        elif cmd == "heap":
            return self._heap(arg)
        elif cmd == "exit":
            sys.exit(int(arg or 0))
        else:
            raise ValueError("unknown command " + cmd)
        return cmd

    def _heap(self, arg):
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
        return "alloc=%d free=%d rom=%d" % (gc.mem_alloc() - rom, gc.mem_free(), rom)
