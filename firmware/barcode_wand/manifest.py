# What ships to a barcode wand, in micropython-lib's manifest form: module(file, base_path=folder).
# `restock firmware build` reads it (provisioning/build.py); tests/firmware/test_manifest.py checks that
# it names every module the app imports. The app's own modules go to /, the lib modules to /lib.
module("main.py")  # shipped as source: MicroPython runs main.py at boot, never main.mpy
module("wand.py")
module("barcode.py")
module("board.py", base_path="../lib")
module("board_esp32.py", base_path="../lib")
module("clicks.py", base_path="../lib")
module("config.py", base_path="../lib")
module("device.py", base_path="../lib")
module("factory.py", base_path="../lib")
module("feedback.py", base_path="../lib")
module("fwslot.py", base_path="../lib")
module("hmacsha.py", base_path="../lib")
module("link.py", base_path="../lib")
module("log.py", base_path="../lib")
module("mqtt.py", base_path="../lib")
module("mqtt_codec.py", base_path="../lib")
module("outbox.py", base_path="../lib")
module("setup.py", base_path="../lib")
module("update.py", base_path="../lib")
module("version.py", base_path="../lib")
module("wifi.py", base_path="../lib")
