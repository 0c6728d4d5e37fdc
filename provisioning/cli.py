"""`restock firmware …` and `restock device …` sub-commands."""

from __future__ import annotations

import typer

firmware_app = typer.Typer(help="Build and flash the device firmware.", no_args_is_help=True)
