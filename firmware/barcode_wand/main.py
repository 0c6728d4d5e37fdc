import fwslot

fwslot.run("wand")  # the update slot, the board, then wand.run in a loop (lib/fwslot.py)
