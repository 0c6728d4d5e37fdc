# Check digits of retail barcodes, so a misread is rejected on the wand at once (protocol §3 scan).


def _gtin_ok(d):
    s = 0
    n = len(d) - 1
    for i in range(n):
        s += (ord(d[n - 1 - i]) - 48) * (3 if i % 2 == 0 else 1)
    return (10 - s % 10) % 10 == ord(d[n]) - 48


def upce_to_upca(d):
    """Expand an 8-digit UPC-E (number system 0/1) to its 12-digit UPC-A, or None."""
    if len(d) != 8 or d[0] not in "01":
        return None
    x = d[1:7]
    last = x[5]
    if last in "012":
        body = x[0:2] + last + "0000" + x[2:5]
    elif last == "3":
        body = x[0:3] + "00000" + x[3:5]
    elif last == "4":
        body = x[0:4] + "00000" + x[4]
    else:
        body = x[0:5] + "0000" + last
    return d[0] + body + d[7]


def valid(code):
    """EAN-8, UPC-E, UPC-A, EAN-13 or GTIN-14 with a correct check digit."""
    if not code or not code.isdigit():
        return False
    n = len(code)
    if n in (12, 13, 14):
        return _gtin_ok(code)
    if n == 8:
        if _gtin_ok(code):
            return True
        a = upce_to_upca(code)
        return a is not None and _gtin_ok(a)
    return False
