# Firmware slots. What `restock flash` wrote is the factory firmware; a verified update lives in
# fw/<version>/ (lib/ and app modules) and goes first on sys.path. A new slot is "pending" until it
# connects to the broker; after MAX_BOOTS boots or MAX_FAILS failed connects without that, the previous
# slot comes back. main.py imports this before any other firmware module and calls run(), so the slot's
# modules win; this module and main.py themselves are never replaced by an update.
import json
import os
import sys
from micropython import const

_MAX_BOOTS = const(3)
_MAX_FAILS = const(3)
_STATE = const("fw.json")
_GC_EVERY = const(2048)


def root():
    if sys.platform == "esp32":
        return ""  # paths below become /fw.json, /fw/<v>
    return os.getenv("RESTOCK_SIM_FLASH") or "flash"  # the sim board's flash folder


def path(name):
    return root() + "/" + name


def load():
    try:
        with open(path(_STATE)) as f:
            st = json.load(f)
        if isinstance(st, dict):
            return st
    except (OSError, ValueError):
        pass
    return {}


def save(st):
    tmp = path(_STATE + ".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(st))
    os.rename(tmp, path(_STATE))  # atomic: a power cut leaves the old state or the new one


def floor(st=None):
    """The highest version ever switched to: anything at or below it is stale."""
    st = load() if st is None else st
    return max(st.get("floor", 0), st.get("version", 0))


def rmtree(p):
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:  # directory
        for name in os.listdir(p):
            rmtree(p + "/" + name)
        os.rmdir(p)
    else:
        os.remove(p)


def select():
    """At boot: count a pending slot's boot, roll back when it used them up, put the slot on sys.path."""
    st = load()
    if st.get("pending"):
        st["boots"] = st.get("boots", 0) + 1
        if st["boots"] > _MAX_BOOTS:
            rollback(st, "boot")
        else:
            save(st)
    slot = st.get("slot")
    if slot:
        base = path(slot)
        sys.path.insert(0, base + "/lib")
        sys.path.insert(0, base)
    return st


def run(app):
    """main.py's whole job, kept here so main.py stays a two-line file the device compiles at boot."""
    select()  # first: a verified update's modules go ahead of the factory ones on the path
    try:
        import gc

        import board

        b = board.load()
        mod = __import__(app)  # after the board, so a config or import error can still reach the LED
        gc.collect()
        # Collect after every 2 KB allocated rather than only when the heap is full: a press makes about
        # 24 KB of short-lived garbage, and sweeping it early keeps live objects from being scattered
        # across the heap. The dash button then needs 2 KB less heap (bench/firmware) for about a
        # dozen collections of a millisecond or so per press on the ESP32.
        gc.threshold(_GC_EVERY)
        while True:
            mod.run(b)  # ends in deep sleep: a reset on the ESP32; the sim board returns on wake
    except Exception as e:  # a crash reboots, so a broken update uses up its boots and is rolled back
        crashed(e)


def rollback(st, why):
    bad = st.get("slot")
    st["rolled_back"] = [st.get("version", 0), why]
    st["slot"] = st.get("prev_slot")
    st["version"] = st.get("prev_version", 0)
    st["prev_slot"] = None
    st["prev_version"] = 0
    st["pending"] = False
    st["boots"] = st["fails"] = 0
    save(st)
    rmtree(path("config.ok"))  # other firmware: its checks see config.json again
    if bad:
        rmtree(path(bad))
    print("WARN firmware rolled back to", st["version"], "after", why)


def activate(version, slot):
    """Make a verified slot the one to boot; the current one stays as the fallback."""
    st = load()
    old = st.get("slot")
    if old and old != slot and st.get("prev_slot") and st["prev_slot"] != old:
        rmtree(path(st["prev_slot"]))  # keep one fallback only: flash is small
    st["prev_slot"] = old
    st["prev_version"] = st.get("version", 0)
    st["slot"] = slot
    st["version"] = version
    st["floor"] = max(floor(st), version)
    st["pending"] = True
    st["boots"] = st["fails"] = 0
    st.pop("rolled_back", None)
    save(st)
    rmtree(path("config.ok"))  # the new firmware checks config.json itself


def confirm(board):
    """The running firmware reached the broker: a pending slot becomes the good one."""
    st = load()
    if not st:
        return
    if st.get("rolled_back"):
        v, why = st.pop("rolled_back")
        board.note("update", "rolled_back %d %s" % (v, why))
        save(st)
    if st.get("pending"):
        st["pending"] = False
        st["boots"] = st["fails"] = 0
        save(st)
        board.note("update", "ok %d" % st.get("version", 0))


def connect_failed(board):
    """A failed connect: a pending slot that keeps failing is rolled back (then we reboot into the old one)."""
    st = load()
    if not st.get("pending"):
        return
    st["fails"] = st.get("fails", 0) + 1
    if st["fails"] >= _MAX_FAILS:
        rollback(st, "connect")
        reset()
    else:
        save(st)


def reset():
    """Reboot: machine.reset() on the ESP32; on the Unix port the process ends and its driver starts it again."""
    if sys.platform == "esp32":
        import machine

        machine.reset()
    print("RESET")
    sys.exit(75)


def crashed(exc):
    """main.py caught an exception: log it and reboot, so a crashing update uses up its boots."""
    sys.print_exception(exc)
    reset()
