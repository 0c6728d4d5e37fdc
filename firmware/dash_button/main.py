import fwslot

fwslot.select()  # first: a verified update's modules go ahead of the factory ones on the path
try:
    import gc

    import board

    b = board.load()
    import dash  # (after the board, so a config or import error can still reach the LED)

    gc.collect()
    while True:
        dash.run(b)  # ends in deep sleep: a reset on the ESP32; the sim board returns on wake
except Exception as e:  # a crash reboots, so a broken update uses up its boots and is rolled back
    fwslot.crashed(e)
