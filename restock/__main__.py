"""`python -m restock …`: the same as the `restock` console script."""

import sys

from restock.cli import main

sys.exit(main())
