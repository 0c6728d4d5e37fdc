# What every app does around its own behaviour: load the config, pick the deep-sleep timer.
import json

import config
import feedback
from log import warn
from wifi import Backoff


def boot(board, kind):
    """Validated config, or None after logging the error and showing the error pattern."""
    try:
        cfg = config.load(board.path("config.json"), kind)
        board.use_pins(cfg["pins"])
        return cfg
    except config.ConfigError as e:
        warn("config error:", e)
        board.note("error", "config: %s" % e)
        feedback.show(board, "error")
        return None


def _rtc(board):
    try:
        return json.loads(board.rtc_read() or b"{}")
    except ValueError:
        return {}


def retry_ms(board, cfg, pending):
    """Timer for the next deep sleep: None with nothing pending, else a backoff kept across wakes."""
    state = _rtc(board)
    if not pending:
        if state.get("retry"):
            state["retry"] = 0
            board.rtc_write(json.dumps(state).encode())
        return None
    b = Backoff(int(cfg["retry_s"] * 1000), int(cfg["retry_max_s"] * 1000), state.get("retry", 0))
    ms = b.next_ms()
    state["retry"] = b.n
    board.rtc_write(json.dumps(state).encode())
    return ms


def factory_reset(board, cfg):
    """A 15 s hold: wipe config, credentials and outbox, then reboot into the error/setup state."""
    import factory
    import fwslot

    factory.wipe(board, cfg)
    fwslot.reset()


def setup(board, cfg):
    """Setup mode, then start over with the (maybe new) config."""
    import setup

    setup.run(board, cfg)
    board.deepsleep(0)
