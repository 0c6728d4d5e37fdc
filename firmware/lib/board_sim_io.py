# Pins and Wi-Fi of the simulated board: thin objects that forward to the Board's models.


class SimPin:
    """A GPIO: the board models what is wired to it (HX711, pulse input)."""

    def __init__(self, board, name):
        self.b = board
        self.name = name

    def value(self, v=None):
        if v is None:
            return self.b.pin_read(self.name)
        self.b.pin_write(self.name, v)

    def irq(self, handler=None, trigger=None):
        self.b.irqs[self.name] = handler
        self.b.fire_pulses()


class SimWLAN:
    def __init__(self, board):
        self.b = board
        self._active = False
        self._up = False

    def active(self, v=None):
        if v is not None:
            self._active = bool(v)
        return self._active

    def connect(self, ssid, key=None, bssid=None):
        if not self._active:
            raise OSError(5)
        self.b.note("wifi", "connect bssid=%s" % ("cached" if bssid else "scan"))
        self._up = self.b.wifi_on

    def isconnected(self):
        return self._up and self.b.wifi_on

    def disconnect(self):
        self._up = False

    def status(self, what=None):
        if what == "rssi":
            return self.b.rssi
        return 1010 if self.isconnected() else 1001

    def scan(self):
        if not self.b.wifi_on:
            return []
        return [(self.b.ssid.encode(), b"\x02\x00\x00\x5e\x00\x01", 6, self.b.rssi, 3, False)]
