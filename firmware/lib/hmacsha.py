# HMAC-SHA256 (RFC 2104) over hashlib, and a constant-time compare: MicroPython ships no hmac module.
# Authenticates update announcements and the factory-reset command with the per-device update key.
import hashlib

_BLOCK = 64


def hmac_sha256(key, msg):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    h = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    h.update(inner)
    return h.digest()


def same(a, b):
    """Compare without an early exit, so the time taken does not tell how many bytes matched."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def mac_hex(key_hex, msg):
    """Hex HMAC-SHA256 of msg under a hex key; None when the key is missing or not hex."""
    import binascii

    try:
        key = binascii.unhexlify(key_hex)
    except ValueError:
        return None
    if not key:
        return None
    return binascii.hexlify(hmac_sha256(key, msg))
