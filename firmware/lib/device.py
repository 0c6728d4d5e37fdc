# What every app does around its own behaviour: load the config, pick the deep-sleep timer.
import json
import os
import sys
from micropython import const

import feedback
from log import debug, warn
from wifi import Backoff

_CHECKED = const("config.ok")  # stamp of the config.json last validated, then that config with its defaults


def _stamp(kind, text):
    import binascii

    from version import FW_VERSION

    # an update may bring new defaults or checks: it validates the file again
    return "%s %s %d %08x" % (kind, FW_VERSION, len(text), binascii.crc32(text))


def _checked(board, stamp):
    # Every wake is a boot: a config.json unchanged since it was validated is taken from the stamp
    # file, so the validator (its code, names and messages) is not loaded into the heap again.
    try:
        with open(board.path(_CHECKED)) as f:
            if f.readline().rstrip() == stamp:
                return json.loads(f.read())
    except (OSError, ValueError):
        pass
    return None


def boot(board, kind):
    """Validated config, or None after logging the error and showing the error pattern."""
    path = board.path("config.json")
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError:
        text = None
    stamp = _stamp(kind, text) if text is not None else None
    cfg = _checked(board, stamp) if stamp else None
    if cfg is None:
        import config

        try:
            cfg = config.parse(text, path, kind)
        except config.ConfigError as e:
            warn("config error:", e)
            board.note("error", "config: %s" % e)
            feedback.show(board, "error")
            return None
        finally:
            del sys.modules["config"]  # not needed until config.json changes: give its heap back
        debug("config.json checked")
        tmp = board.path(_CHECKED + ".tmp")  # (a file that parsed has a stamp)
        with open(tmp, "w") as f:
            f.write(stamp + "\n" + json.dumps(cfg))
        os.rename(tmp, board.path(_CHECKED))
    board.use_pins(cfg["pins"])
    return cfg


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
