import gc

import board

b = board.load()
import appliance  # noqa: E402  (after the board, so a config or import error can still reach the LED)

gc.collect()
while True:
    appliance.run(b)  # ends in deep sleep: a reset on the ESP32; the sim board returns on wake
