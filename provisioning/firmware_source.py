"""Where the firmware tree is: firmware/ beside this package in a checkout, or the `firmware` package data
an installed wheel puts beside it in site-packages; either way a real folder, as mpy-cross reads files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MARKER = Path("lib") / "board.py"  # any firmware tree has it


def root() -> Path:
    """The firmware folder (lib/ and one folder per app); the checkout's path when none is found."""
    beside = Path(__file__).resolve().parent.parent / "firmware"
    if (beside / MARKER).is_file():
        return beside
    spec = importlib.util.find_spec("firmware")  # installed elsewhere on the path than this package
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / MARKER).is_file():
            return Path(location)
    return beside  # missing files are then reported by whatever reads them, naming this path
