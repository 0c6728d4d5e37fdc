# Picks the board: real ESP32 hardware or the simulated board of the Unix port.
# Apps talk to the returned object only; board modules are the only ones touching machine/network.
import sys


def load():
    if sys.platform == "esp32":
        from board_esp32 import Board
    else:
        from board_sim import Board
    return Board()
