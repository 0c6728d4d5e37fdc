# Appliance sensor: wake on a timer, take a smoothed reading, report it only on a significant
# change (min_change of full scale) or when report_every_h has passed, then sleep again.
import json
import time
from micropython import const

import clicks
import device
import feedback
import sensors
from link import Link
from log import debug, warn

_KIND = const("appliance_sensor")
_TUNABLE = const((("report_every_h", 0.0001, 720.0), ("min_change", 0.0, 1.0), ("sample_s", 0.05, 86400.0)))


def _load(board, name):
    return sensors.load_calib(board.path(name))


def _save(board, name, data):
    tmp = board.path(name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
    import os

    os.rename(tmp, board.path(name))


def _number(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and v == v


def _on_cmd(board, cfg, sensor, msg):
    t = msg["type"]
    try:
        if t == "tare":
            sensor.tare()
        elif t == "calibrate":
            known = msg.get("known_g", msg.get("known"))
            if not _number(known) or known <= 0:
                warn("cmd ignored: calibrate needs known_g > 0")
                return True
            sensor.calibrate(known)
        elif t == "config":
            settings = _load(board, "settings.json")
            for key, lo, hi in _TUNABLE:
                v = msg.get(key)
                if v is not None:
                    if _number(v) and lo <= v <= hi:
                        settings[key] = cfg[key] = v
                    else:
                        warn("cmd config: bad", key)
            _save(board, "settings.json", settings)
            board.note("config", "ok")
            return True
        else:
            return False
    except (OSError, ValueError) as e:
        warn("cmd", t, "failed:", e)
        return True
    _save(board, "calib.json", sensor.calib())
    board.note("calibrated", t)
    return True


def run(board):
    cfg = device.boot(board, _KIND)
    if cfg is None:
        board.deepsleep(None, button=True)
        return
    if board.wake_reason() == "button" and clicks.classify(board, 0) == "setup":
        return device.setup(board, cfg)
    cfg.update(_load(board, "settings.json"))  # hub-sent settings override config.json
    s = cfg["sensor"]
    sensor = sensors.make(board, cfg, _load(board, "calib.json"))
    link = Link(board, cfg)
    link.on_cmd = lambda msg: _on_cmd(board, cfg, sensor, msg)
    try:
        v = sensor.value()
    except OSError as e:
        warn("sensor:", e)
        v = None
    mine = []
    if v is not None:
        board.note("sample", "%.2f" % v)
        last = _load(board, "last.json")
        now = time.time()
        due = (not last or abs(v - last["v"]) >= cfg["min_change"] * s["full"]
               or now - last["t"] >= cfg["report_every_h"] * 3600)
        if due:
            value = round(v, 1) if s["unit"] != "count" else int(v)
            mine.append(link.event({"type": "level", "slot": s["slot"], "value": value, "unit": s["unit"]}))
            _save(board, "last.json", {"v": v, "t": now})
    else:
        feedback.show(board, "error")
    if mine or len(link.outbox) or board.wake_reason() == "power":
        if link.up():
            link.wait_answers(mine or link.outbox.seqs[:], int(cfg["feedback_wait_s"] * 1000))
            link.pump(200)  # commands queued while we slept arrive right after subscribing
        if mine:
            code = link.answers.get(mine[-1])
            debug("level", mine[-1], "->", code)
            feedback.show(board, code or "offline")
    pending = len(link.outbox) > 0
    link.down()
    if s["type"] == "pulse":
        _save(board, "calib.json", sensor.calib())  # the count must survive a power cut too
    sensor.sleep()
    sleep_ms = int(cfg["sample_s"] * 1000)
    retry = device.retry_ms(board, cfg, pending)
    board.deepsleep(min(sleep_ms, retry) if retry else sleep_ms, button=True, pulse=s["type"] == "pulse")
