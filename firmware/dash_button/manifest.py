# What ships to a dash button, in micropython-lib's manifest form: module(file) and include(manifest).
# `restock firmware build` reads it (provisioning/build.py); tests/firmware/test_manifest.py checks that
# it names every module the app imports. The app's own modules go to /, the shared ones (lib) to /lib.
module("main.py")  # shipped as source: MicroPython runs main.py at boot, never main.mpy
module("dash.py")
include("../lib/manifest.py")  # the shared modules, to /lib
