"""python -m bench.nats_connect"""

from bench.nats_connect.run import main

main()
