# Unit tests of firmware/lib/mqtt_codec.py, written in the subset that CPython and MicroPython share:
# pytest runs them on CPython (test_mqtt_codec.py), and the same file runs under the Unix port.
import mqtt_codec as c


def raises(fn, *args):
    try:
        fn(*args)
    except c.ProtocolError:
        return True
    return False


def case_varlen_boundaries():
    for n, enc in ((0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"),
                   (16384, b"\x80\x80\x01"), (2097151, b"\xff\xff\x7f"), (268435455, b"\xff\xff\xff\x7f")):
        assert c.varlen(n) == enc, n
        assert c.decode_varlen(b"\x30" + enc, 1) == (n, 1 + len(enc))
    assert raises(c.varlen, 268435456)
    assert raises(c.varlen, -1)
    assert raises(c.decode_varlen, b"\x30\xff\xff\xff\xff\x01", 1)
    assert c.decode_varlen(b"\x30\x80", 1) is None


def case_connect_with_will_and_credentials():
    pkt = c.connect("btn-1", 60, False, "btn-1", "pw", "restock/v1/btn-1/status", b'{"online": false}', 1, True)
    assert pkt[0] == 0x10
    n, pos = c.decode_varlen(pkt, 1)
    body = pkt[pos:]
    assert len(body) == n
    assert body[:7] == b"\x00\x04MQTT\x04"
    assert body[7] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04  # user, password, will retain, will qos 1, will
    assert body[8:10] == b"\x00\x3c"
    assert body[10:17] == b"\x00\x05btn-1"
    assert body.endswith(b"\x00\x02pw")


def case_connect_minimal_matches_reference_bytes():
    assert c.connect("abc", 30) == b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x1e\x00\x03abc"


def case_publish_qos1_roundtrip():
    pkt = c.publish("restock/v1/btn-1/event", b'{"seq": 1}', 1, False, 0x1234)
    first, body, rest = c.split(pkt + b"\xd0\x00")
    assert rest == b"\xd0\x00"
    assert first == 0x32
    topic, payload, qos, pid, retain, dup = c.parse_publish(first, body)
    assert (topic, payload, qos, pid, retain, dup) == ("restock/v1/btn-1/event", b'{"seq": 1}', 1, 0x1234, False,
                                                        False)


def case_publish_retain_dup_and_qos0():
    first, body, _ = c.split(c.publish("t", "x", 0, True))
    assert first == 0x31
    assert c.parse_publish(first, body) == ("t", b"x", 0, 0, True, False)
    first, body, _ = c.split(c.publish("t", b"y", 1, False, 7, True))
    assert first == 0x3A
    assert c.parse_publish(first, body)[3:] == (7, False, True)
    assert raises(c.publish, "t", b"x", 1, False, 0)


def case_large_publish_uses_multibyte_length():
    payload = b"x" * 1024
    pkt = c.publish("restock/v1/a/event", payload, 1, False, 1)
    first, body, rest = c.split(pkt)
    assert rest == b"" and c.parse_publish(first, body)[1] == payload


def case_subscribe_and_acks():
    assert c.subscribe(10, "restock/v1/btn-1/cmd", 1) == b"\x82\x19\x00\x0a\x00\x14restock/v1/btn-1/cmd\x01"
    assert c.ack(0x40, 258) == b"\x40\x02\x01\x02"
    assert c.ack(0x60, 1) == b"\x62\x02\x00\x01"
    assert c.parse_suback(b"\x00\x0a\x01") == (10, b"\x01")
    assert c.parse_suback(b"\x00\x0a\x80")[1] == b"\x80"
    assert c.parse_connack(b"\x01\x00") == (True, 0)
    assert c.parse_connack(b"\x00\x05") == (False, 5)


def case_malformed_input_raises_protocol_error_only():
    assert raises(c.parse_connack, b"\x00")
    assert raises(c.parse_suback, b"\x00")
    assert raises(c.parse_pid, b"\x01")
    assert raises(c.parse_publish, 0x30, b"\x00")
    assert raises(c.parse_publish, 0x30, b"\x00\x09ab")
    assert raises(c.parse_publish, 0x32, b"\x00\x01a\x00")
    assert raises(c.parse_publish, 0x36, b"\x00\x01a")
    assert raises(c.parse_publish, 0x30, b"\x00\x02\xff\xfe")
    # every truncation of a valid packet is either incomplete or a clean ProtocolError
    pkt = c.publish("restock/v1/x/cmd", b'{"type": "feedback"}', 1, False, 3)
    for i in range(len(pkt)):
        r = c.split(pkt[:i])
        assert r is None, i


def case_split_needs_whole_packet():
    assert c.split(b"") is None
    assert c.split(b"\x20") is None
    assert c.split(b"\x20\x02\x00") is None
    assert c.split(b"\x20\x02\x00\x00") == (0x20, b"\x00\x00", b"")


CASES = [v for k, v in sorted(globals().items()) if k.startswith("case_")]


def main():
    for case in CASES:
        case()
        print("ok", case.__name__)
    print("passed", len(CASES))


if __name__ == "__main__":
    main()
