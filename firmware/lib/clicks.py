# Button debounce and click classification from timestamped edges, so the same code works on
# IRQ-captured edges (ESP32) and on the sim board's replayed ones.
import time

from micropython import const

_DEBOUNCE_MS = const(30)  # contacts of cheap tact switches settle within ~10 ms
_LONG_MS = const(1500)  # protocol: long = held > 1.5 s
_SETUP_MS = const(6000)  # a hold this long enters setup mode; the docs quote it (a test holds them to it)
_FACTORY_MS = const(15000)  # a hold this long wipes config and credentials (factory reset)
_DOUBLE_MS = const(400)  # second press must start this soon after the first release


def _change(board, level, deadline):
    """Next debounced edge to the other level before deadline, else None."""
    while True:
        e = board.next_edge(deadline)
        if e is None:
            return None
        # a flip back within the debounce window makes both edges bounce
        while True:
            n = board.next_edge(time.ticks_add(e[1], _DEBOUNCE_MS))
            if n is None:
                break
            e = n
        if e[0] != level:
            return e


def classify(board, first_ms=0):
    """Wait up to first_ms for a press: 'single', 'double', 'long', 'setup', 'factory', or None."""
    down = _change(board, 0, time.ticks_add(board.ticks_ms(), first_ms))
    if down is None:
        return None
    up = _change(board, 1, time.ticks_add(down[1], _LONG_MS))
    if up is None:
        up = _change(board, 1, time.ticks_add(down[1], _SETUP_MS))
        if up is not None:
            return "long"
        up = _change(board, 1, time.ticks_add(down[1], _FACTORY_MS))
        return "setup" if up is not None else "factory"
    again = _change(board, 0, time.ticks_add(up[1], _DOUBLE_MS))
    if again is None:
        return "single"
    _change(board, 1, time.ticks_add(again[1], _SETUP_MS))  # consume the second release
    return "double"
