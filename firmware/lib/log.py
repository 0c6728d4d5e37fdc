# Logging to the console (USB serial on the ESP32, stdout under the Unix port).
# DEBUG off in a release build keeps the chatter (and its string allocations) out.
DEBUG = True


def debug(*args):
    if DEBUG:
        print(*args)


def warn(*args):
    print("WARN", *args)
