# LED (and buzzer) patterns: one per feedback code of docs/protocol.md §5, plus device states.
from micropython import const

LONG_MS = const(600)
SHORT_MS = const(150)
GAP_MS = const(250)

# name: (colour, blinks, long?, buzzer tone: 0 none, 1 good, 2 attention, 3 bad)
PATTERNS = {
    "ordered": ("green", 2, 1, 1),
    "reordered": ("green", 2, 1, 1),
    "in_cart": ("green", 1, 1, 1),
    "awaiting_approval": ("amber", 3, 0, 2),
    "duplicate": ("amber", 1, 1, 2),
    "inbox": ("amber", 2, 0, 2),
    "cancelled": ("blue", 2, 0, 1),
    "nothing_to_cancel": ("blue", 1, 0, 2),
    "rejected": ("red", 3, 0, 3),
    "offline": ("red", 1, 1, 3),  # no broker / no feedback in time: the event stays in the outbox
    "error": ("red", 5, 0, 3),  # config error or a fault: see the console
    "setup": ("blue", 1, 1, 2),  # then blue stays on while in setup mode
    "accepted": ("green", 1, 0, 1),  # wand: code read and valid, will be sent
    "recorded": None,
}
_TONES = ((0, 0, 0), (2000, 80, 1), (1500, 100, 2), (400, 150, 3))


def show(board, name, buzzer=False):
    """Play the pattern for a feedback code or state; unknown codes show nothing."""
    p = PATTERNS.get(name)
    board.note("pattern", name)
    if p is None:
        return
    colour, n, long_, tone = p
    if buzzer and tone:
        freq, ms, beeps = _TONES[tone]
        for _ in range(beeps):
            board.buzz(freq, ms)
            board.sleep_ms(60)
    on = LONG_MS if long_ else SHORT_MS
    for _ in range(n):
        board.led(colour)
        board.sleep_ms(on)
        board.led("off")
        board.sleep_ms(GAP_MS)
    if name == "setup":
        board.led("blue")
