# Retained status payloads (docs/protocol.md §4); offline is also the last will.
import json

OFFLINE = b'{"online": false}'


def online(kind, fw, battery_mv, rssi, uptime, outbox, dropped):
    return json.dumps({"online": True, "kind": kind, "fw": fw, "battery_mv": battery_mv, "rssi": rssi,
                       "uptime": uptime, "outbox": outbox, "dropped": dropped})


def significant(prev, battery_mv, outbox, dropped):
    """Whether a new status is worth a publish: prev is (battery_mv, outbox) of the last one."""
    if dropped or prev is None:
        return True
    pb, po = prev
    if (pb is None) != (battery_mv is None) or (pb is not None and abs(pb - battery_mv) >= 100):
        return True
    return abs(po - outbox) >= 4
