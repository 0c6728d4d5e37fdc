"""The `restock` command line: hub, demo, simulator, devices, firmware, each from the package that owns it."""

from __future__ import annotations

import sys

import typer

from hub.broker.cluster_cli import cluster_app
from hub.cli import app as hub_app
from hub.cli_errors import explain
from provisioning.cli import broker_app, device_app, firmware_app, flash_command, pki_app
from simulator.cli import sim_app
from simulator.demo import demo_command

app = typer.Typer(
    name="restock",
    help="restock: replenishment hub, device firmware tools and simulator.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(hub_app)  # unnamed: `restock hub` and `restock catalog`, not `restock hub hub`
app.command("demo")(demo_command)
app.add_typer(firmware_app, name="firmware")
app.add_typer(device_app, name="device")
app.add_typer(pki_app, name="pki")
app.add_typer(broker_app, name="broker")
app.command("flash")(flash_command)
app.add_typer(sim_app, name="sim")
app.add_typer(cluster_app, name="cluster")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: a user's mistake ends as one line on stderr and an exit code, not a traceback."""
    command = typer.main.get_command(app)
    try:
        # Not standalone: usage errors come back here to be told in one line instead of a boxed panel.
        result = command.main(args=argv, prog_name="restock", standalone_mode=False)
    except typer.TyperException as exc:  # typer's usage errors (bad option, missing file, unknown command)
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":  # `restock sim`: typer has printed the help, the answer
            return exc.exit_code
        where = ctx.command_path if ctx is not None else "restock"
        _say(f"{where}: {exc.format_message()} (see '{where} --help')")
        return exc.exit_code
    except typer.Abort:
        _say("restock: aborted")
        return 130
    except Exception as exc:
        told = explain(exc)
        if told is None:  # a bug, not a mistake: keep its traceback
            raise
        _say(f"restock: {told.message}")
        return told.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
