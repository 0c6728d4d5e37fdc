"""The `restock` command line: hub, demo, simulator, devices, firmware."""

from __future__ import annotations

import typer

from hub.catalog_cli import catalog_app
from hub.commands import hub_command
from provisioning.cli import broker_app, device_app, firmware_app, flash_command, pki_app
from simulator.cli import sim_app
from simulator.demo import demo_command

app = typer.Typer(
    name="restock",
    help="restock: replenishment hub, device firmware tools and simulator.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("hub")(hub_command)
app.command("demo")(demo_command)
app.add_typer(firmware_app, name="firmware")
app.add_typer(device_app, name="device")
app.add_typer(pki_app, name="pki")
app.add_typer(broker_app, name="broker")
app.command("flash")(flash_command)
app.add_typer(sim_app, name="sim")
app.add_typer(catalog_app, name="catalog")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
