"""The hub's own commands, `restock hub` and `restock catalog …`; `restock.cli` mounts them beside the
provisioning and simulator commands."""

from __future__ import annotations

import typer

from hub.catalog_cli import catalog_app
from hub.commands import hub_command

# Unnamed, so that mounting it adds its commands themselves (`restock hub`, `restock catalog`).
app = typer.Typer(help="The replenishment hub: run it, manage its catalog.", no_args_is_help=True, add_completion=False)
app.command("hub")(hub_command)
app.add_typer(catalog_app, name="catalog")
