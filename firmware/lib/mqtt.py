# A small MQTT 3.1.1 client: one connection, QoS 0/1 out, QoS 0/1/2 in, a deadline on every wait.
# Transport errors become MQTTError so the caller has one thing to catch and reconnect on.
import time
from micropython import const

import mqtt_codec as c
from log import warn

# packet types (mqtt_codec.py says why each module keeps private copies)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_PUBREC = const(0x50)
_PUBREL = const(0x60)
_PUBCOMP = const(0x70)
_SUBACK = const(0x90)
_PINGREQ = const(b"\xc0\x00")
_TRIES = const(3)  # sends of a QoS 1 publish before the connection is given up
_BODY_MAX = const(2048)  # largest incoming packet we parse; bigger ones are drained and ignored
_HEAD_KEEP = const(256)  # of an oversize PUBLISH, enough to read topic and packet id for the ack


class MQTTError(Exception):
    pass


class MQTTClient:
    def __init__(self, client_id, host, port, user, password, keepalive, will, tcp, wait,
                 clean=True, timeout_ms=5000, ssl_ctx=None):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.will = will  # (topic, msg, qos, retain) or None
        self.tcp = tcp  # (host, port, timeout_ms) -> connected socket; the board supplies it
        self.wait = wait  # (sock, ms) -> readable; the sim board also serves its channel here
        self.clean = clean
        self.timeout_ms = timeout_ms
        self.ssl_ctx = ssl_ctx
        self.on_message = None  # (topic, payload bytes)
        self.sock = None
        self._pid = 0
        self._acked = 0  # pid of the last PUBACK/SUBACK seen, read by _await
        self._granted = b""
        self._last_tx = 0
        self._last_rx = 0
        self._head = b""

    def connect(self):
        """Open the connection; return session_present. Raises MQTTError."""
        self.close()
        sock = None
        try:
            sock = self.tcp(self.host, self.port, self.timeout_ms)
            if self.ssl_ctx is not None:
                sock = self.ssl_ctx.wrap_socket(sock, server_hostname=self.host)
        except (OSError, ValueError) as e:  # mbedtls reports a failed certificate check as ValueError
            if sock is not None:
                sock.close()
            raise MQTTError("connect: %r" % (e,))
        self.sock = sock
        self._last_rx = self._last_tx = time.ticks_ms()
        w = self.will or (None, None, 0, False)
        self._send(c.connect(self.client_id, self.keepalive, self.clean, self.user, self.password,
                             w[0], w[1], w[2], w[3]))
        first, body = self._read_packet(time.ticks_add(time.ticks_ms(), self.timeout_ms))
        if first is None or first & 0xF0 != _CONNACK:
            self.close()
            raise MQTTError("no connack")
        try:
            present, rc = c.parse_connack(body)
        except c.ProtocolError:
            self.close()
            raise MQTTError("bad connack")
        if rc:
            self.close()
            raise MQTTError("refused rc=%d" % rc)  # 4/5: bad secret or revoked device
        return present

    def connected(self):
        return self.sock is not None

    def close(self):
        """Drop the socket without DISCONNECT, so the broker publishes the last will."""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def publish(self, topic, payload, qos=0, retain=False):
        """Publish; for qos 1 wait for PUBACK, retransmitting with DUP. Raises MQTTError."""
        if qos == 0:
            self._send(c.publish(topic, payload, 0, retain))
            return
        self._pid = pid = self._pid % 65535 + 1
        pkt = bytearray(c.publish(topic, payload, 1, retain, pid))
        for _ in range(_TRIES):
            self._send(pkt)
            if self._await(_PUBACK, pid):
                return
            pkt[0] |= 8  # DUP on retransmission
        self.close()
        raise MQTTError("no puback")

    def subscribe(self, topic, qos=1):
        self._pid = pid = self._pid % 65535 + 1
        self._send(c.subscribe(pid, topic, qos))
        if not self._await(_SUBACK, pid):
            self.close()
            raise MQTTError("no suback")
        if not self._granted or self._granted[0] == 0x80:
            raise MQTTError("subscribe refused")

    def check(self, ms=0):
        """Serve incoming packets and keepalive for up to ms."""
        self._await(0, 0, ms)

    def _await(self, kind, pid, ms=None):
        deadline = time.ticks_add(time.ticks_ms(), self.timeout_ms if ms is None else ms)
        self._acked = 0
        while True:
            self._keepalive()
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return False
            if not self.wait(self.sock, min(left, 1000)):
                continue
            first, body = self._read_packet(deadline)
            if first is not None:
                self._handle(first, body)
                if kind and self._acked == pid and first & 0xF0 == kind:
                    return True

    def _keepalive(self):
        if self.sock is None:
            raise MQTTError("not connected")
        if not self.keepalive:
            return
        now = time.ticks_ms()
        if time.ticks_diff(now, self._last_rx) > self.keepalive * 1500:
            self.close()
            raise MQTTError("keepalive timeout")
        if time.ticks_diff(now, self._last_tx) > self.keepalive * 500:
            self._send(_PINGREQ)

    def _handle(self, first, body):
        t = first & 0xF0
        if t == _PUBLISH:
            self._on_publish(first, body)
        elif t == _PUBACK or t == _PUBCOMP:
            self._acked = c.parse_pid(body)
        elif t == _SUBACK:
            self._acked, self._granted = c.parse_suback(body)
        elif t == _PUBREC:
            self._send(c.ack(_PUBREL, c.parse_pid(body)))
        elif t == _PUBREL:
            self._send(c.ack(_PUBCOMP, c.parse_pid(body)))
        # PINGRESP and anything unexpected: _last_rx was updated, nothing else to do

    def _on_publish(self, first, body):
        truncated = body is None
        if truncated:
            body = self._head
        try:
            topic, payload, qos, pid, _, _ = c.parse_publish(first, body)
        except c.ProtocolError as e:
            if truncated:
                warn("mqtt: oversize publish dropped")
                return
            self.close()
            raise MQTTError("bad publish: %s" % e)
        if qos == 1:
            self._send(c.ack(_PUBACK, pid))
        elif qos == 2:
            self._send(c.ack(_PUBREC, pid))
        if truncated:
            warn("mqtt: oversize message on", topic, "ignored")
            return
        if self.on_message is not None:
            try:
                self.on_message(topic, payload)
            except Exception as e:  # a handler bug must not take the connection down
                warn("mqtt: handler error", repr(e))

    def _send(self, data):
        if self.sock is None:
            raise MQTTError("not connected")
        try:
            n = self.sock.write(data)
            if n is not None and n != len(data):
                raise OSError("short write")
        except OSError as e:
            self.close()
            raise MQTTError("send: %r" % (e,))
        self._last_tx = time.ticks_ms()

    def _read(self, n):
        try:
            data = self.sock.read(n)
        except OSError as e:
            self.close()
            raise MQTTError("recv: %r" % (e,))
        if not data or len(data) != n:
            self.close()
            raise MQTTError("closed by peer")
        return data

    def _read_packet(self, deadline):
        """Read one packet: (first_byte, body) or (None, None) on timeout. body None = oversize."""
        while True:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return None, None
            if self.sock is None:
                raise MQTTError("not connected")
            if self.wait(self.sock, min(left, 1000)):
                break
        first = self._read(1)[0]
        n = 0
        shift = 0
        for _ in range(4):
            b = self._read(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        else:
            self.close()
            raise MQTTError("bad length")
        self._last_rx = time.ticks_ms()
        if n > _BODY_MAX:
            self._head = self._read(_HEAD_KEEP)
            n -= _HEAD_KEEP
            while n:
                k = min(n, 512)
                self._read(k)
                n -= k
            return first, None
        return first, (self._read(n) if n else b"")
