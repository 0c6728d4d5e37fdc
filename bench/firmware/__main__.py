"""`python -m bench.firmware`."""

from bench.firmware.run import main

main()
