# Logging to the console (USB serial on the ESP32, stdout under the Unix port).
# On in the source, which the simulator and tests run; `restock firmware build` (provisioning/build.py)
# ships this line as False, keeping the chatter and its string allocations off a device.
DEBUG = True


def debug(*args):
    if DEBUG:
        print(*args)


def warn(*args):
    print("WARN", *args)
