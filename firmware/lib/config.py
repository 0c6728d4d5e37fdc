# config.json: loaded and checked once at boot, so a wrong file gives one clear message
# (and the error LED) instead of a crash somewhere later.
import json

KINDS = ("dash_button", "barcode_wand", "appliance_sensor")
_REQ = object()


class ConfigError(Exception):
    pass


def _id_ok(s):
    if not 3 <= len(s) <= 32:
        return False
    for i, ch in enumerate(s):
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or (i and ch in "-_")):
            return False
    return True


def _take(cfg, key, typ, default=_REQ, lo=None, hi=None, choices=None):
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.get(p)
        if not isinstance(node, dict):
            if default is _REQ:
                raise ConfigError("%s: missing section '%s'" % (key, p))
            return default
    v = node.get(parts[-1], default)
    if v is _REQ:
        raise ConfigError("%s: required" % key)
    if v is default and default is not _REQ:
        node[parts[-1]] = v
        return v
    if typ is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
        node[parts[-1]] = v
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise ConfigError("%s: expected %s, got %r" % (key, typ.__name__, v))
    if typ is str and (lo is not None and len(v) < lo or hi is not None and len(v) > hi):
        raise ConfigError("%s: length must be %s..%s" % (key, lo, hi))
    if typ is not str and (lo is not None and v < lo or hi is not None and v > hi):
        raise ConfigError("%s: must be %s..%s, got %r" % (key, lo, hi, v))
    if choices is not None and v not in choices:
        raise ConfigError("%s: must be one of %s" % (key, ", ".join(choices)))
    return v


def validate(cfg, kind=None):
    """Check cfg in place and fill defaults; return it. Raises ConfigError naming the key."""
    if not isinstance(cfg, dict):
        raise ConfigError("config must be a JSON object")
    did = _take(cfg, "device_id", str)
    if not _id_ok(did):
        raise ConfigError("device_id: 3..32 of a-z 0-9 - _, got %r" % did)
    k = _take(cfg, "kind", str, kind, choices=KINDS)
    if kind is not None and k != kind:
        raise ConfigError("kind: this firmware is %s, config says %s" % (kind, k))
    _take(cfg, "secret", str, lo=1, hi=128)
    _take(cfg, "wifi.ssid", str, lo=1, hi=32)
    _take(cfg, "wifi.password", str, "", hi=64)
    _take(cfg, "broker.host", str, lo=1, hi=253)
    tls = _take(cfg, "broker.tls", bool, False)
    _take(cfg, "broker.port", int, 8883 if tls else 1883, 1, 65535)
    _take(cfg, "broker.ca", str, "ca.pem", lo=1)
    _take(cfg, "keepalive", int, 60, 0, 65535)
    _take(cfg, "timeout_s", float, 5.0, 0.1, 60.0)
    _take(cfg, "outbox_max", int, 32, 1, 256)
    _take(cfg, "feedback_wait_s", float, 8.0, 0.0, 120.0)
    _take(cfg, "retry_s", float, 60.0, 0.1, 86400.0)
    _take(cfg, "retry_max_s", float, 3600.0, 0.1, 86400.0)
    _take(cfg, "pins", dict, {})
    _take(cfg, "update_key", str, "", hi=128)  # hex HMAC key for updates and factory reset
    if k == "barcode_wand":
        _take(cfg, "scan_idle_s", float, 4.0, 0.1, 600.0)
    elif k == "appliance_sensor":
        s = _take(cfg, "sensor.type", str, choices=("hx711", "pulse"))
        _take(cfg, "sensor.slot", str, lo=1, hi=32)
        _take(cfg, "sensor.unit", str, "count" if s == "pulse" else "g", choices=("g", "ml", "count", "fraction"))
        _take(cfg, "sensor.full", float, 1000.0, 0.000001)
        _take(cfg, "sensor.samples", int, 7, 1, 64)
        _take(cfg, "sensor.scale", float, 420.0)
        _take(cfg, "sensor.offset", int, 0)
        _take(cfg, "sample_s", float, 900.0, 0.05, 86400.0)
        _take(cfg, "report_every_h", float, 6.0, 0.0001, 720.0)
        _take(cfg, "min_change", float, 0.05, 0.0, 1.0)
    return cfg


def parse(text, path, kind=None):
    """Validate the text of config.json at path (None: no such file); raises ConfigError with a message
    fit for the log."""
    if text is None:
        raise ConfigError("no config file at %s" % path)
    try:
        cfg = json.loads(text)
    except ValueError:
        raise ConfigError("%s is not valid JSON" % path)
    return validate(cfg, kind)
