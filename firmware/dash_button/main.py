import fwslot

fwslot.run("dash")  # the update slot, the board, then dash.run in a loop (lib/fwslot.py)
