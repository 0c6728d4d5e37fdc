"""`python -m bench.cluster`."""

from bench.cluster.run import main

main()
