"""`restock firmware …` and `restock device …` sub-commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from provisioning import build as fwbuild

firmware_app = typer.Typer(help="Build and flash the device firmware.", no_args_is_help=True)


@firmware_app.command("build")
def build_command(
    out: Annotated[Path, typer.Option(help="Output folder, one sub-folder per device.")] = Path("build/firmware"),
    march: Annotated[str, typer.Option(help="mpy-cross architecture; 'none' for bytecode only.")] = fwbuild.MARCH,
    source: Annotated[Path, typer.Option(help="The firmware folder to compile.")] = fwbuild.FIRMWARE_DIR,
) -> None:
    """Compile every firmware file to .mpy with mpy-cross; fail on the first file that does not compile."""
    console = Console()
    files = fwbuild.sources(source)
    with Progress(
        TextColumn("[bold]mpy-cross"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("", total=len(files))

        def step(src: Path) -> None:
            progress.update(task, advance=1, description=f"{src.parent.name}/{src.name}")

        try:
            bundles = fwbuild.build(out, source, None if march == "none" else march, on_file=step)
        except fwbuild.CompileError as e:
            progress.stop()
            console.print(f"[red]compile failed:[/red] {e.path}", soft_wrap=True, highlight=False)
            console.print(e.message, soft_wrap=True, markup=False, highlight=False)
            raise typer.Exit(1) from e
    table = Table(title=f"firmware in {out}")
    table.add_column("device")
    table.add_column("files", justify="right")
    table.add_column(".mpy bytes", justify="right")
    for name, bundle in bundles.items():
        table.add_row(name, str(len(bundle.files)), f"{bundle.mpy_bytes:,}")
    console.print(table)
