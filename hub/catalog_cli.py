"""`restock catalog import`: load a product catalog CSV into the hub's database, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session

from hub.cli_errors import tell, usable_data_dir
from hub.domain.catalog import RowError, parse_catalog
from hub.domain.money import is_currency
from hub.services import catalog as catalog_service
from hub.settings import Settings
from hub.store import repos
from hub.store.db import make_engine, migrate

# Exit codes: 0 imported (or would import, on a dry run), 1 the file has problems, 2 usage.
EXIT_INVALID = 1
EXIT_USAGE = 2

catalog_app = typer.Typer(
    help="Product catalog: import merchant products with their GTINs, prices and pack sizes.",
    no_args_is_help=True,
    add_completion=False,
)


def _usage(message: str) -> typer.Exit:
    return tell(message, EXIT_USAGE)


def _error_table(errors: list[RowError]) -> Table:
    table = Table(title=f"{len(errors)} problem(s); nothing was imported", title_justify="left")
    table.add_column("line", justify="right")
    table.add_column("column")
    table.add_column("reason")
    for error in errors:
        table.add_row(str(error.line), error.column or "-", error.reason)
    return table


IMPORT_HELP = (
    "Validate every row of a catalog CSV and import all of them, or none and list each problem.\n\n"
    "Columns (header row, any order): sku, name, price (major units, e.g. 12.99) are required; gtins "
    "(several separated by | or spaces; EAN-8, EAN-13, UPC-A, UPC-E, GTIN-14), currency, pack_size, "
    "unit (piece, g, ml, count) and stock are optional.\n\n"
    "Products are matched by merchant and SKU: new ones are created, existing ones updated, listed GTINs "
    "added (never removed). Without --household the rows go into the shared merchant catalog every "
    "household sees.\n\n"
    "Exit status: 0 imported (or would be, with --dry-run), 1 problems in the file (nothing imported, "
    "each problem listed with its line), 2 usage error."
)


@catalog_app.command("import", help=IMPORT_HELP)
def import_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Catalog CSV (UTF-8, header row)")
    ],
    merchant: Annotated[str, typer.Option(help="Merchant whose SKUs the file lists")] = "demo",
    household: Annotated[
        int | None,
        typer.Option(help="Import into this household's own catalog instead of the shared merchant catalog"),
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="Currency of rows without one (default: the household's, else EUR)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row against the catalog, write nothing")
    ] = False,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (default: RESTOCK_DATABASE_URL or SQLite in the data folder)")
    ] = None,
) -> None:
    """Import a catalog CSV, all or nothing."""
    out = Console()
    err = Console(stderr=True)
    if currency is not None and not is_currency(currency):
        raise _usage(f"--currency must be three uppercase letters, got {currency!r}")
    if not catalog_service.MERCHANT.fullmatch(merchant):
        raise _usage(f"--merchant must be 1 to 40 of a-z, 0-9, '-', '_', got {merchant!r}")
    data = file.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        out.print(_error_table([RowError(line, None, "not UTF-8 text (save the file as UTF-8)")]))
        raise typer.Exit(EXIT_INVALID) from None

    url = database_url
    if url is None:
        settings = Settings()
        # The default SQLite file's folder may not exist yet on a fresh machine.
        settings = settings.model_copy(update={"data_dir": usable_data_dir(settings.data_dir, "RESTOCK_DATA_DIR")})
        url = settings.resolved_database_url()
    migrate(url)
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            default_currency = currency or "EUR"
            if household is not None:
                found = repos.household(session, household)
                if found is None:
                    raise _usage(f"household {household} does not exist")
                default_currency = currency or found.currency
            try:
                catalog_service.check_merchant(session, household, merchant)
            except catalog_service.UnknownMerchantError as exc:
                raise _usage(f"--merchant: {exc}") from None
            parsed = parse_catalog(text, default_currency=default_currency)
            if parsed.errors:
                out.print(_error_table(parsed.errors))
                raise typer.Exit(EXIT_INVALID)
            with Progress(
                TextColumn("[bold]importing[/bold] {task.fields[name]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task("rows", total=len(parsed.rows), name=file.name)
                result = catalog_service.import_catalog(
                    session,
                    parsed,
                    merchant=merchant,
                    household_id=household,
                    dry_run=dry_run,
                    progress=lambda done, _total: progress.update(task, completed=done),
                )
    finally:
        engine.dispose()
    if not result.ok:
        out.print(_error_table(result.errors))
        raise typer.Exit(EXIT_INVALID)
    scope = f"household {household}'s catalog" if household is not None else f"the shared {merchant} catalog"
    verb = "would import" if dry_run else "imported"
    note = " (dry run: nothing written)" if dry_run else ""
    out.print(
        f"{verb} {result.rows} row(s) into {scope}: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.gtins_added} GTIN(s) added{note}"
    )

