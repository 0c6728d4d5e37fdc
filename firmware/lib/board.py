# Picks the board: real ESP32 hardware or the simulated board of the Unix port. Apps talk to the object
# load() returns through the members declared below and nothing else; board modules are the only ones
# touching machine/network.
import sys


def load():
    if sys.platform == "esp32":
        from board_esp32 import Board
    else:
        from board_sim import Board
    return Board()


# The board interface, written as code for readers and for tests/firmware/test_board_interface.py, which
# checks that board_esp32.Board and board_sim.Board define exactly these members with these signatures.
# Neither board inherits from it: mpy-cross drops an `if False:` block whole, so the declaration costs the
# device no flash, no heap and no interned names (a base class would cost all three on every boot).
if False:

    class Board:
        name = "esp32"  # or "sim"

        # -- time and paths -------------------------------------------------------------------
        def path(self, name):
            """Path of a file on the device's flash (the sim board: a folder)."""

        def ticks_ms(self):
            """Millisecond ticks for time.ticks_diff/ticks_add (the sim board's run in virtual time)."""

        def uptime_s(self):
            """Seconds since boot or wake."""

        def sleep_ms(self, ms):
            """Block for ms (the sim board serves its control channel meanwhile)."""

        def wake_reason(self):
            """Why this boot happened: "power", "button", "pulse" or "timer"."""

        def note(self, kind, msg):
            """Tell the sim board's driver what happened ("pattern", "sleep", ...); hardware ignores it."""

        # -- inputs ---------------------------------------------------------------------------
        def next_edge(self, deadline):
            """The next button edge (level, tick) at or before the deadline tick, else None."""

        def edge_pending(self):
            """A button edge is waiting to be read."""

        def pressed(self):
            """The button's level now: 1 while held down."""

        def uart_line(self):
            """One line from the barcode scanner's UART (bytes), else None; never blocks."""

        def pin(self, name, mode=0):
            """A GPIO by its name in the pin table, input (0) or output (1): a Pin below."""

        def hold(self, name, value):
            """Drive a pin and keep its level through deep sleep."""

        # -- outputs --------------------------------------------------------------------------
        def led(self, colour):
            """The RGB LED: "off", "red", "green", "blue" or "amber"."""

        def buzz(self, freq, ms):
            """Beep at freq Hz for ms."""

        # -- power, flash state and pins --------------------------------------------------------
        def battery_mv(self):
            """Battery voltage in mV, None when mains powered."""

        def rtc_read(self):
            """The bytes kept in RTC memory through deep sleep."""

        def rtc_write(self, data):
            """Replace the bytes kept in RTC memory."""

        def use_pins(self, pins):
            """Apply config.json's pin overrides (name -> GPIO number)."""

        # -- radio and network ----------------------------------------------------------------
        def wlan(self):
            """The Wi-Fi station interface: a WLAN below."""

        def setup_ap(self, ssid, key=None):
            """Start the setup-mode access point and return the TCP port its setup server is to listen on;
            ssid None stops it."""

        def tcp(self, host, port, timeout_ms):
            """A connected TCP socket; OSError when the network or the host cannot be reached."""

        def wait(self, sock, ms):
            """True once sock (None: a board input) is readable, False after ms."""

        def deepsleep(self, ms=None, button=True, pulse=False):
            """Sleep until the timer (ms; None: no timer), the button or a pulse wakes the device.
            The ESP32 then boots again; the sim board returns, and the app runs again from the top."""

    class Pin:
        """What Board.pin() returns (machine.Pin on the ESP32)."""

        def value(self, v=None):
            """Read the level, or drive it to v."""

        def irq(self, handler=None, trigger=None):
            """Call handler(pin) on an edge."""

    class WLAN:
        """What Board.wlan() returns (network.WLAN on the ESP32; the sim board is its own)."""

        def active(self, v=None):
            """Switch the interface on or off; the state without an argument."""

        def connect(self, ssid, key=None, bssid=None):
            """Start joining a network (bssid: the access point remembered from last time)."""

        def isconnected(self):
            """Joined, with an address."""

        def disconnect(self):
            """Leave the network."""

        def status(self, kind=None):
            """The link state; status("rssi"): the signal in dBm."""

        def scan(self):
            """Visible networks: (ssid, bssid, channel, rssi, security, hidden) tuples."""
