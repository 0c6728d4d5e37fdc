# Barcode wand: the trigger wakes us, the scanner module sends each code as a line on the UART.
# Codes are checked here (instant red + buzz on a misread) and counted per session; when the wand
# has been idle for scan_idle_s, each distinct code goes out as one scan event with its quantity.
import time
from micropython import const

import barcode
import clicks
import device
import feedback
from link import Link
from log import debug

_KIND = const("barcode_wand")
_QTY_MAX = 99


def _session(board, idle_ms):
    """Read codes until idle; return [[code, qty], ...] in first-scan order."""
    codes = []
    deadline = time.ticks_add(board.ticks_ms(), idle_ms)
    while time.ticks_diff(deadline, board.ticks_ms()) > 0:
        while board.next_edge(board.ticks_ms()) is not None:
            deadline = time.ticks_add(board.ticks_ms(), idle_ms)  # trigger pulled: still scanning
        line = board.uart_line()
        if line is None:
            board.wait(None, 50)
            continue
        try:
            code = bytes(line).decode().strip()
        except ValueError:
            code = ""
        if not barcode.valid(code):
            board.note("reject", code[:20] or "-")
            feedback.show(board, "rejected", buzzer=True)
            deadline = time.ticks_add(board.ticks_ms(), idle_ms)
            continue
        for c in codes:
            if c[0] == code:
                c[1] = min(_QTY_MAX, c[1] + 1)
                break
        else:
            codes.append([code, 1])
        feedback.show(board, "accepted", buzzer=True)
        deadline = time.ticks_add(board.ticks_ms(), idle_ms)  # idle counts from the end of the beep
    return codes


def run(board):
    cfg = device.boot(board, _KIND)
    if cfg is None:
        board.deepsleep(None, button=True)
        return
    link = Link(board, cfg)
    pulled = board.wake_reason() == "button" or board.edge_pending()
    talk = board.wake_reason() == "power" or len(link.outbox) > 0
    while pulled or talk:
        mine = []
        if pulled:
            if clicks.classify(board, 0) == "setup":  # trigger held >= 6 s
                link.down()
                return device.setup(board, cfg)
            for code, qty in _session(board, int(cfg["scan_idle_s"] * 1000)):
                mine.append(link.event({"type": "scan", "code": code, "qty": qty}))
        if mine or talk or len(link.outbox):
            if link.up():
                link.wait_answers(mine or link.outbox.seqs[:], int(cfg["feedback_wait_s"] * 1000))
            if mine:
                code = link.answers.get(mine[-1])
                debug("scan", mine[-1], "->", code)
                feedback.show(board, code or "offline", buzzer=True)
        # the next item is often scanned while this one is answered: that is another session, not noise
        pulled = board.edge_pending()
        talk = False
    pending = len(link.outbox) > 0
    link.down()
    board.deepsleep(device.retry_ms(board, cfg, pending), button=True)
