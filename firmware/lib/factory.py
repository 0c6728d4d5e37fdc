# Factory reset (ETSI EN 303 645 provision 5.11): wipes config (Wi-Fi, broker, credentials, update
# key), CA, outbox, seq and calibration, so a device given away carries nothing of its household.
# The firmware itself stays. Triggered by a 15 s button hold (physical access) or an authenticated cmd.
import fwslot
from hmacsha import mac_hex, same
from log import warn

TAG = b"restock-factory-reset-v1\n"
_FILES = ("config.json", "config.ok", "ca.pem", "ca.der", "seq", "seq.tmp", "calib.json", "calib.json.tmp",
          "outbox", "fw/stage")


def wipe(board, cfg=None):
    names = list(_FILES)
    if cfg and cfg.get("broker", {}).get("ca"):
        names.append(cfg["broker"]["ca"])
    for name in names:
        fwslot.rmtree(board.path(name))
    board.rtc_write(b"")
    board.note("factory", "reset")


def on_cmd(board, cfg, msg):
    """{"type": "factory_reset", "mac": hex HMAC(update key, TAG + device id)}: wipe and reboot."""
    mac = msg.get("mac")
    want = mac_hex(cfg.get("update_key") or "", TAG + cfg["device_id"].encode())
    if want is None or not isinstance(mac, str) or not same(want, mac.encode()):
        warn("factory reset refused: bad mac")
        board.note("factory", "refused")
        return
    wipe(board, cfg)
    fwslot.reset()

