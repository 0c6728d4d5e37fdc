# MQTT 3.1.1 packets to and from bytes (pure functions, no IO).
# Runs unchanged on CPython (unit tests, fleet emulator) and MicroPython.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Packet types (MQTT 3.1.1 section 2.2.1). Private const() names cost the device no RAM, where a public
# name would be a module global and an interned string on every boot: modules that compare packet types
# keep their own private copies (mqtt.py; simulator/codec.py names them for CPython).
_CONNECT = const(0x10)
_PUBLISH = const(0x30)
_PUBREL = const(0x60)
_SUBSCRIBE = const(0x82)  # reserved flag bits 0010 are mandatory for SUBSCRIBE
_MAX_REMAINING = const(268435455)


class ProtocolError(Exception):
    pass


def varlen(n):
    """Encode a remaining length (1 to 4 bytes)."""
    if n < 0 or n > _MAX_REMAINING:
        raise ProtocolError("length")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_varlen(data, pos=0):
    """Decode a remaining length at data[pos:]; return (value, next_pos) or None when incomplete."""
    n = 0
    shift = 0
    for i in range(4):
        if pos + i >= len(data):
            return None
        b = data[pos + i]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos + i + 1
        shift += 7
    raise ProtocolError("varlen")


def mqtt_str(s):
    if isinstance(s, str):
        s = s.encode()
    if len(s) > 65535:
        raise ProtocolError("string")
    return len(s).to_bytes(2, "big") + s


def packet(first, body):
    return bytes((first,)) + varlen(len(body)) + body


def connect(client_id, keepalive=60, clean=True, user=None, password=None,
            will_topic=None, will_msg=None, will_qos=0, will_retain=False):
    """CONNECT packet (protocol level 4)."""
    flags = 0x02 if clean else 0
    payload = mqtt_str(client_id)
    if will_topic is not None:
        flags |= 0x04 | (will_qos & 3) << 3 | (0x20 if will_retain else 0)
        payload += mqtt_str(will_topic) + mqtt_str(will_msg or b"")
    if user is not None:
        flags |= 0x80
        payload += mqtt_str(user)
        if password is not None:
            flags |= 0x40
            payload += mqtt_str(password)
    if not 0 <= keepalive <= 65535:
        raise ProtocolError("keepalive")
    body = b"\x00\x04MQTT\x04" + bytes((flags,)) + keepalive.to_bytes(2, "big") + payload
    return packet(_CONNECT, body)


def publish(topic, payload, qos=0, retain=False, pid=0, dup=False):
    """PUBLISH packet; pid is required for qos 1 and 2."""
    if isinstance(payload, str):
        payload = payload.encode()
    first = _PUBLISH | (qos & 3) << 1 | (1 if retain else 0) | (8 if dup else 0)
    body = mqtt_str(topic)
    if qos:
        if not 0 < pid < 65536:
            raise ProtocolError("pid")
        body += pid.to_bytes(2, "big")
    return packet(first, body + payload)


def subscribe(pid, topic, qos=1):
    return packet(_SUBSCRIBE, pid.to_bytes(2, "big") + mqtt_str(topic) + bytes((qos,)))


def ack(kind, pid):
    """PUBACK / PUBREC / PUBREL / PUBCOMP for pid."""
    return bytes((kind | (2 if kind == _PUBREL else 0), 2)) + pid.to_bytes(2, "big")


def parse_connack(body):
    """Return (session_present, return_code)."""
    if len(body) != 2:
        raise ProtocolError("connack")
    return bool(body[0] & 1), body[1]


def parse_pid(body):
    if len(body) < 2:
        raise ProtocolError("pid")
    return body[0] << 8 | body[1]


def parse_suback(body):
    """Return (pid, granted qos codes)."""
    if len(body) < 3:
        raise ProtocolError("suback")
    return parse_pid(body), bytes(body[2:])


def parse_publish(first, body):
    """Return (topic, payload, qos, pid, retain, dup) of an incoming PUBLISH."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise ProtocolError("qos")
    if len(body) < 2:
        raise ProtocolError("publish")
    tlen = body[0] << 8 | body[1]
    pos = 2 + tlen
    if pos > len(body):
        raise ProtocolError("topic")
    try:
        topic = bytes(body[2:pos]).decode()
    except Exception:  # UnicodeError on CPython, ValueError/UnicodeError on MicroPython
        raise ProtocolError("topic utf-8")
    pid = 0
    if qos:
        if pos + 2 > len(body):
            raise ProtocolError("pid")
        pid = body[pos] << 8 | body[pos + 1]
        pos += 2
    return topic, bytes(body[pos:]), qos, pid, bool(first & 1), bool(first & 8)


def split(data):
    """Split one packet off the front of data: (first_byte, body, rest) or None if incomplete."""
    if not data:
        return None
    r = decode_varlen(data, 1)
    if r is None:
        return None
    n, pos = r
    if pos + n > len(data):
        return None
    return data[0], data[pos:pos + n], data[pos + n:]
