import fwslot

fwslot.run("appliance")  # the update slot, the board, then appliance.run in a loop (lib/fwslot.py)
