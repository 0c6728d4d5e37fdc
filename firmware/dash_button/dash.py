# Dash button: wake on the button, classify the press, publish it, show the hub's answer, sleep.
import time
from micropython import const

import clicks
import device
import feedback
from link import Link
from log import debug

_KIND = const("dash_button")


def run(board):
    cfg = device.boot(board, _KIND)
    if cfg is None:
        board.deepsleep(None, button=True)
        return
    link = Link(board, cfg)
    mine = []  # seqs of presses in this wake
    click = clicks.classify(board, 0) if board.wake_reason() == "button" or board.edge_pending() else None
    if click == "setup":
        return device.setup(board, cfg)
    if click == "factory":
        return device.factory_reset(board, cfg)
    if click:
        mine.append(link.event({"type": "press", "click": click}))
    wait_ms = int(cfg["feedback_wait_s"] * 1000)
    if link.up():
        deadline = time.ticks_add(time.ticks_ms(), wait_ms)
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            if not link.pump(100):
                break
            if board.edge_pending():  # pressed again while awake
                click = clicks.classify(board, 0)
                if click == "setup":
                    link.down()
                    return device.setup(board, cfg)
                if click == "factory":
                    link.down()
                    return device.factory_reset(board, cfg)
                if click:
                    mine.append(link.event({"type": "press", "click": click}))
                    deadline = time.ticks_add(time.ticks_ms(), wait_ms)
            elif all(s in link.answers for s in mine) and not (len(link.outbox) and not mine):
                break
    if mine:
        code = link.answers.get(mine[-1])
        debug("press", mine[-1], code)
        feedback.show(board, code or "offline")
    elif not link.connected():
        feedback.show(board, "offline")
    pending = len(link.outbox) > 0
    link.down()
    board.deepsleep(device.retry_ms(board, cfg, pending), button=True)

