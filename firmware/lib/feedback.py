# LED (and buzzer) patterns: one per feedback code of docs/protocol.md §5, plus device states.
from micropython import const

_LONG_MS = const(600)
_SHORT_MS = const(150)
_GAP_MS = const(250)

# One line per pattern: name, colour, blinks, long (1) or short (0), buzzer tone (0 none, 1 good,
# 2 attention, 3 bad). A string constant stays in flash (ROMFS or frozen); a dict of tuples would be
# rebuilt in the heap at every boot, and every wake from deep sleep is a boot.
_TABLE = const("""
ordered green 2 1 1
reordered green 2 1 1
in_cart green 1 1 1
awaiting_approval amber 3 0 2
duplicate amber 1 1 2
inbox amber 2 0 2
cancelled blue 2 0 1
nothing_to_cancel blue 1 0 2
rejected red 3 0 3
offline red 1 1 3
error red 5 0 3
setup blue 1 1 2
accepted green 1 0 1
recorded - 0 0 0
""")
# offline: no broker or no feedback in time (the event stays in the outbox); error: a config error or
# a fault (see the console); setup: then blue stays on while in setup mode; accepted: the wand read a
# valid code and will send it; recorded: a reading was stored, nothing to show.
_TONES = ((0, 0, 0), (2000, 80, 1), (1500, 100, 2), (400, 150, 3))


def pattern(name):
    """(colour, blinks, long, tone) for a code or state, None for unknown codes and 'recorded'."""
    i = -1 if " " in name or "\n" in name else _TABLE.find("\n" + name + " ")  # codes come off the wire
    if i < 0:
        return None
    f = _TABLE[i + 1 : _TABLE.index("\n", i + 1)].split()
    return None if f[1] == "-" else (f[1], int(f[2]), f[3] == "1", int(f[4]))


def show(board, name, buzzer=False):
    """Play the pattern for a feedback code or state; unknown codes show nothing."""
    p = pattern(name)
    board.note("pattern", name)
    if p is None:
        return
    colour, n, long_, tone = p
    if buzzer and tone:
        freq, ms, beeps = _TONES[tone]
        for _ in range(beeps):
            board.buzz(freq, ms)
            board.sleep_ms(60)
    on = _LONG_MS if long_ else _SHORT_MS
    for _ in range(n):
        board.led(colour)
        board.sleep_ms(on)
        board.led("off")
        board.sleep_ms(_GAP_MS)
    if name == "setup":
        board.led("blue")
