"""`python -m bench.fanout`."""

from bench.fanout.run import main

main()
