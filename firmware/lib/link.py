# The device's end of the wire contract: events through the flash outbox, status with last will,
# commands in. The end-to-end acknowledgement is the hub's feedback, not the PUBACK (protocol §7).
import json
import random
import time
from micropython import const

import fwslot
from log import debug, warn
from mqtt import MQTTClient, MQTTError
from outbox import Outbox, Seq
from version import FW_VERSION
from wifi import Wifi

# Protocol §7.4, the replay rule: an event's n-th wait is uniform in [d, 2d) with d = min(10 s * 2^n, 160 s),
# and after a reconnect within a wake the outbox goes out at random moments over the next 10 s.
_REPLAY_MS = const(10000)
_REPLAY_CAP_MS = const(160000)
_SPREAD_MS = const(10000)
_LINGER_MS = const(60000)  # an update in progress keeps the device awake this long before it sleeps
_SYSTEM_CMDS = const(("update", "update_data", "factory_reset"))  # handled here for every app
_OFFLINE = const(b'{"online": false}')  # retained status (docs/protocol.md §4), also the last will


def replay_wait_ms(n):
    """How long an event waits for its feedback after its n-th publish (0 = the first) before the next."""
    d = _REPLAY_CAP_MS if n >= 5 else min(_REPLAY_CAP_MS, _REPLAY_MS << n)
    # d plus a random share of d in 1/256 steps: small ints only, nothing allocated. random is built in on
    # the Unix and ESP32 ports and seeded from the OS or the hardware RNG at boot, unlike the clock.
    return d + (d >> 8) * random.getrandbits(8)


def _tls(path):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"-----"):  # mbedtls here parses DER only: strip the PEM armour
        import binascii

        data = binascii.a2b_base64(b"".join(l.strip() for l in data.split(b"\n") if l and not l.startswith(b"-----")))
    ctx.load_verify_locations(cadata=data)
    return ctx


class Link:
    def __init__(self, board, cfg):
        self.board = board
        self.cfg = cfg
        self.kind = cfg["kind"]
        self._upd = None  # update.Updater, imported on the first update command (saves heap otherwise)
        did = cfg["device_id"]
        base = "restock/v1/" + did
        self.t_event = base + "/event"
        self.t_status = base + "/status"
        self.t_cmd = base + "/cmd"
        self.outbox = Outbox(board.path("outbox"), cfg["outbox_max"])
        self.seq = Seq(board.path("seq"))
        w = cfg["wifi"]
        self.wifi = Wifi(board, w["ssid"], w["password"])
        b = cfg["broker"]
        ctx = _tls(board.path(b["ca"])) if b["tls"] else None
        # The session outlives deep sleep (clean=False), so feedback sent while we slept is delivered on wake.
        self.mqtt = MQTTClient(did, b["host"], b["port"], did, cfg["secret"], cfg["keepalive"],
                               (self.t_status, _OFFLINE, 1, True), board.tcp, board.wait,
                               False, int(cfg["timeout_s"] * 1000), ctx)
        self.mqtt.on_message = self._on_message
        self.answers = {}  # seq -> feedback code received since this wake
        self.on_cmd = None  # app hook for non-feedback commands: fn(msg dict)
        # seq -> [ticks when it goes out again, publishes so far]; few names, each one costs heap (bench.firmware)
        self._sent = {}
        self._status_due = False
        self._last_status = None

    def event(self, body):
        """Give body the next seq, store it in the outbox, return the seq; publishing comes later."""
        seq = self.seq.next()
        body["seq"] = seq
        self.outbox.add(seq, json.dumps(body).encode())
        self.board.note("event", seq)
        return seq

    def up(self, wifi_ms=10000):
        """Connect Wi-Fi and MQTT and subscribe to cmd; False (never raises) when it cannot."""
        if self.mqtt.connected():
            return True
        if not self.wifi.connect(wifi_ms):
            return False
        try:
            self.mqtt.connect()
            self.mqtt.subscribe(self.t_cmd, 1)
        except MQTTError as e:
            warn("mqtt:", e)
            self.mqtt.close()
            fwslot.connect_failed(self.board)  # a fresh update that cannot connect gets rolled back
            return False
        fwslot.confirm(self.board)  # a fresh update that connects is kept
        if self._last_status is not None:
            # A status went out on an earlier connection of this wake, so this is a reconnect: the outbox goes
            # out at random moments of the next _SPREAD_MS, so a fleet that lost its broker together does not
            # come back in step.
            now = time.ticks_ms()
            for seq in self.outbox.seqs:
                s = self._sent.get(seq)
                self._sent[seq] = [time.ticks_add(now, (_SPREAD_MS >> 8) * random.getrandbits(8)), s[1] if s else 0]
        self._status_due = True
        self.board.note("connected", "")
        return True

    def connected(self):
        return self.mqtt.connected()

    def _flush(self):
        now = time.ticks_ms()
        for seq in self.outbox.seqs[:]:
            s = self._sent.get(seq)
            if s is not None and time.ticks_diff(now, s[0]) < 0:
                continue
            data = self.outbox.get(seq)
            if data is None:
                self.outbox.remove(seq)
                self._sent.pop(seq, None)
                continue
            self.mqtt.publish(self.t_event, data, 1)
            n = s[1] if s else 0  # unanswered publishes so far: each one doubles the next wait
            self._sent[seq] = [time.ticks_add(time.ticks_ms(), replay_wait_ms(n)), n + 1]
            debug("sent", seq)

    def publish_status(self):
        ob = self.outbox
        mv = self.board.battery_mv()
        dropped = ob.dropped
        self.mqtt.publish(self.t_status, json.dumps({
            "online": True, "kind": self.kind, "fw": FW_VERSION, "battery_mv": mv, "rssi": self.wifi.rssi(),
            "uptime": self.board.uptime_s(), "outbox": len(ob), "dropped": dropped}), 1, True)
        if dropped:
            ob.reported(dropped)
        self._last_status = (mv, len(ob))
        self._status_due = False

    def _status_changed(self):
        """Whether a new status is worth a publish: a drop to report, 100 mV, or 4 events more or fewer."""
        if self.outbox.dropped or self._last_status is None:
            return True
        pb, po = self._last_status
        mv = self.board.battery_mv()
        if (pb is None) != (mv is None) or (pb is not None and abs(pb - mv) >= 100):
            return True
        return abs(po - len(self.outbox)) >= 4

    def pump(self, ms=0):
        """Publish what is due, serve incoming commands for up to ms; False when the link is down."""
        if not self.mqtt.connected():
            return False
        try:
            self._flush()
            if self._status_due or self._status_changed():
                self.publish_status()
            self.mqtt.check(ms)
            return True
        except MQTTError as e:
            warn("mqtt:", e)
            self.mqtt.close()
            self.board.note("offline", "")
            return False

    def wait_answers(self, seqs, ms):
        """Pump until every seq in seqs has its feedback or ms passed; True if all answered."""
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while True:
            if all(s in self.answers for s in seqs):
                return True
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0 or not self.pump(min(left, 200)):
                return all(s in self.answers for s in seqs)

    def down(self):
        """Before deep sleep: drop the socket without DISCONNECT, so the will marks us offline."""
        if self._upd is not None and self._upd.busy():
            self._linger()
        self.mqtt.close()
        self.wifi.off()

    def _linger(self):
        # the rest of an update is queued at the broker: take it now rather than a chunk per wake
        deadline = time.ticks_add(time.ticks_ms(), _LINGER_MS)
        while self._upd.busy() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            if not self.pump(200):
                break

    def _system(self, msg):
        if msg["type"] == "factory_reset":
            import factory

            factory.on_cmd(self.board, self.cfg, msg)
            return
        if self._upd is None:
            import update

            self._upd = update.Updater(self.board, self.cfg)
        self._upd.handle(msg)

    def _on_message(self, topic, payload):
        if topic != self.t_cmd:
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            warn("cmd ignored: not a JSON object with a type:", payload[:80])
            return
        if msg["type"] in _SYSTEM_CMDS:
            self._system(msg)
            return
        if msg["type"] != "feedback":
            if self.on_cmd is not None and self.on_cmd(msg):
                return
            warn("cmd ignored: unknown type", msg["type"][:32])
            return
        seq = msg.get("seq")
        code = msg.get("code")
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(code, str):
            warn("cmd ignored: feedback without int seq / str code")
            return
        self.outbox.remove(seq)
        self._sent.pop(seq, None)  # the backoff ends with the feedback
        self.answers[seq] = code
        self.board.note("feedback", "%d %s" % (seq, code[:32]))
