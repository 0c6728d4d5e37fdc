# Sensor drivers behind one small interface: value() in the slot's unit (smoothed), tare(),
# calibrate(known), and calib() -> dict to persist. Drivers reach pins only through the board.
import json

from micropython import const

_HX_READY_MS = const(600)  # the HX711 converts at 10 Hz; longer than this means it is unpowered


def trimmed_mean(xs):
    """Mean of the middle half: robust against the odd spike, smoother than a median."""
    xs = sorted(xs)
    k = len(xs) // 4
    mid = xs[k:len(xs) - k] or xs
    return sum(mid) / len(mid)


class HX711:
    """24-bit load-cell ADC, channel A gain 128, bit-banged on two GPIOs."""

    def __init__(self, board, cfg, calib):
        self.board = board
        self.sck = board.pin("hx_sck", 1)
        self.dout = board.pin("hx_dout", 0)
        self.sck.value(0)
        self.n = cfg["samples"]
        self.offset = calib.get("offset", cfg["offset"])
        self.scale = calib.get("scale", cfg["scale"])

    def raw(self):
        t = 0
        while self.dout.value():
            if t >= _HX_READY_MS:
                raise OSError("hx711 not ready")
            self.board.sleep_ms(10)
            t += 10
        v = 0
        sck = self.sck
        dout = self.dout
        for _ in range(24):
            sck.value(1)
            v = v << 1 | dout.value()
            sck.value(0)
        sck.value(1)  # 25th pulse selects channel A, gain 128 for the next conversion
        sck.value(0)
        return v - 0x1000000 if v & 0x800000 else v

    def _raw_avg(self):
        return trimmed_mean([self.raw() for _ in range(self.n)])

    def value(self):
        return max(0.0, (self._raw_avg() - self.offset) / self.scale)

    def tare(self):
        self.offset = int(self._raw_avg())

    def calibrate(self, known):
        d = self._raw_avg() - self.offset
        if not d or known <= 0:
            raise ValueError("calibrate: no load on the cell")
        self.scale = d / known

    def calib(self):
        return {"offset": self.offset, "scale": self.scale}

    def sleep(self):
        self.board.hold("hx_sck", 1)  # SCK high > 60 us powers the HX711 down (1.5 mA -> 1 uA)


class PulseCounter:
    """Counts cycles (reed switch, door sensor); value = cycles left of 'full'."""

    def __init__(self, board, cfg, calib):
        self.board = board
        self.full = cfg["full"]
        # the pulse that woke the device reaches no irq handler (none is registered in deep sleep)
        self.count = calib.get("count", 0) + (1 if board.wake_reason() == "pulse" else 0)
        self.pin = board.pin("pulse", 0)
        self.pin.irq(self._irq)

    def _irq(self, pin):
        self.count += 1  # small int add: no heap allocation in the handler

    def value(self):
        return max(0, self.full - self.count)

    def tare(self):
        self.count = 0  # refilled / new filter

    def calibrate(self, known):
        self.count = max(0, int(self.full - known))

    def calib(self):
        return {"count": self.count}

    def sleep(self):
        pass


def load_calib(path):
    try:
        with open(path) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def make(board, cfg, calib):
    s = cfg["sensor"]
    return (PulseCounter if s["type"] == "pulse" else HX711)(board, s, calib)
