# The ESP32 board (docs/hardware.md): the only module that touches machine, network and esp32.
# Pin numbers are defaults; config.json "pins" overrides them per device.
import array
import select
import socket
import time

import esp32
import machine
import network
from machine import ADC, PWM, Pin
from micropython import const

_SETUP_PORT = const(80)  # the setup-mode HTTP server, on the access point's own address
RING = const(16)  # button edges buffered by the IRQ; a press with bounce needs about 6
PINS = {
    "button": 33,  # RTC GPIO for ext0 wake; active low, 100 k pull-up on the board
    "led_r": 25, "led_g": 26, "led_b": 27,
    "buzzer": 14,
    "battery": 34,  # ADC1 through a 2 x 1 M divider; None in config = mains powered
    "uart_rx": 16, "uart_tx": 17,  # scanner module, 9600 8N1, one code per line
    "scanner_en": 13,  # P-MOSFET gate: scanner powered only while awake
    "hx_dout": 19, "hx_sck": 18,
    "pulse": 32,  # RTC GPIO for ext1 wake on a cycle pulse
}
_COLOURS = {"off": (0, 0, 0), "red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "amber": (1, 1, 0)}


class Board:
    name = "esp32"

    def __init__(self):
        self.pins = dict(PINS)
        self._lv = bytearray(RING)
        self._ts = array.array("i", [0] * RING)
        self._w = 0
        self._r = 0
        self._uart = None
        self._ub = bytearray()
        self._wlan = None
        cause = machine.reset_cause()
        wr = machine.wake_reason()
        if cause != machine.DEEPSLEEP_RESET:
            self._wake = "power"
        elif wr == machine.EXT0_WAKE:
            self._wake = "button"
        elif wr == machine.EXT1_WAKE:
            self._wake = "pulse"
        else:
            self._wake = "timer"
        self._button()
        self._leds()
        if self._wake == "button" and self.pressed():
            # the press began before we booted (~250 ms): count it as starting now
            self._push(1, time.ticks_ms())

    def use_pins(self, pins):
        self.pins.update(pins)
        self._button()
        self._leds()

    def _button(self):
        self._btn = Pin(self.pins["button"], Pin.IN)
        self._btn.irq(self._irq, Pin.IRQ_FALLING | Pin.IRQ_RISING)

    def _leds(self):
        self._led = [Pin(self.pins[k], Pin.OUT, value=0) for k in ("led_r", "led_g", "led_b")]

    def _irq(self, pin):
        # runs in interrupt context: stores into preallocated buffers only, no heap allocation
        self._push(1 - pin.value(), time.ticks_ms())

    def _push(self, level, t):
        i = self._w % RING
        self._lv[i] = level
        self._ts[i] = t
        self._w += 1

    # -- time and paths ---------------------------------------------------------------------
    def path(self, name):
        return "/" + name

    def ticks_ms(self):
        return time.ticks_ms()

    def uptime_s(self):
        return time.ticks_ms() // 1000  # since boot or wake: the RTC timer restarts ticks

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def wake_reason(self):
        return self._wake

    def note(self, kind, msg):
        pass  # the sim board reports these to its driver; hardware has nobody to tell

    # -- inputs -----------------------------------------------------------------------------
    def next_edge(self, deadline):
        while True:
            if self._w - self._r > RING:
                self._r = self._w - RING  # overrun by bounce: keep the newest
            if self._r != self._w:
                i = self._r % RING
                t = self._ts[i]
                if time.ticks_diff(t, deadline) > 0:
                    return None
                self._r += 1
                return self._lv[i], t
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return None
            time.sleep_ms(5)

    def edge_pending(self):
        return self._r != self._w

    def pressed(self):
        return 1 - self._btn.value()

    def uart_line(self):
        if self._uart is None:
            Pin(self.pins["scanner_en"], Pin.OUT, value=0)  # low = scanner on (P-MOSFET)
            self._uart = machine.UART(1, 9600, rx=self.pins["uart_rx"], tx=self.pins["uart_tx"], timeout=0)
        n = self._uart.any()
        if n:
            self._ub.extend(self._uart.read(n))
        for sep in (b"\r", b"\n"):
            if sep in self._ub:
                i = self._ub.index(sep)
                line = bytes(self._ub[:i])
                self._ub = self._ub[i + 1:]
                if line:
                    return line
        if len(self._ub) > 64:
            self._ub = bytearray()  # noise on the line, no terminator: start over
        return None

    def pin(self, name, mode=0):
        return Pin(self.pins[name], Pin.OUT if mode else Pin.IN, None, hold=False)  # undo a sleep hold

    def hold(self, name, value):
        """Drive a pin and keep it through deep sleep (e.g. HX711 SCK high = powered down)."""
        Pin(self.pins[name], Pin.OUT, value=value, hold=True)

    # -- outputs ----------------------------------------------------------------------------
    def led(self, colour):
        for p, v in zip(self._led, _COLOURS.get(colour, (0, 0, 0))):
            p.value(v)

    def buzz(self, freq, ms):
        pwm = PWM(Pin(self.pins["buzzer"]), freq=freq, duty_u16=32768)
        time.sleep_ms(ms)
        pwm.deinit()

    # -- power and radio --------------------------------------------------------------------
    def battery_mv(self):
        if self.pins.get("battery") is None:
            return None
        adc = ADC(Pin(self.pins["battery"]), atten=ADC.ATTN_11DB)
        return sum(adc.read_uv() for _ in range(4)) // 2000  # mean of 4, x2 for the divider, uV -> mV

    def rtc_read(self):
        return machine.RTC().memory()

    def rtc_write(self, data):
        machine.RTC().memory(data)

    def wlan(self):
        if self._wlan is None:
            self._wlan = network.WLAN(network.STA_IF)
        return self._wlan

    def setup_ap(self, ssid, key=None):
        ap = network.WLAN(network.AP_IF)
        if ssid is None:
            ap.active(False)
            return None
        ap.active(True)
        if key and len(key) >= 8:
            ap.config(essid=ssid, password=key, authmode=network.AUTH_WPA2_PSK)
        else:
            ap.config(essid=ssid)
        return _SETUP_PORT

    def tcp(self, host, port, timeout_ms):
        addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
        s = socket.socket()
        s.settimeout(timeout_ms / 1000)
        try:
            s.connect(addr)
        except OSError:
            s.close()
            raise
        return s

    def wait(self, sock, ms):
        if sock is None:
            deadline = time.ticks_add(time.ticks_ms(), ms)
            while time.ticks_diff(deadline, time.ticks_ms()) > 0:
                if self._r != self._w or (self._uart is not None and self._uart.any()):
                    return True
                time.sleep_ms(10)
            return False
        p = select.poll()
        p.register(sock, select.POLLIN)
        return bool(p.poll(ms))

    def deepsleep(self, ms=None, button=True, pulse=False):
        self.led("off")
        if self._wlan is not None:
            self._wlan.active(False)
        if ms == 0:
            machine.reset()
        if button:
            esp32.wake_on_ext0(pin=self._btn, level=esp32.WAKEUP_ALL_LOW)
        if pulse:
            esp32.wake_on_ext1(pins=(Pin(self.pins["pulse"], Pin.IN),), level=esp32.WAKEUP_ANY_HIGH)
        if ms is None:
            machine.deepsleep()
        machine.deepsleep(int(ms))
