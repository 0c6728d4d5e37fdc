"""Mistakes a user can fix, told as one line that names the fix, with an exit code; never a traceback.

The `restock` entry point turns these (and the library errors `explain` knows) into `restock: <line>` on stderr.
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import typer
from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

from hub.broker.mosquitto_files import ReloadNotConfirmed
from hub.settings import env_name

EXIT_FAILED = 1  # the step itself failed (a build, a flash, a scenario)
EXIT_USAGE = 2  # a bad argument, file or setting
EXIT_STARTUP = 3  # could not start: a port in use, an unusable data folder, an unreachable database

DATABASE_FIX = "check RESTOCK_DATABASE_URL (or RESTOCK_DATA_DIR for the default SQLite file)"


class UserError(Exception):
    """A mistake the message tells the user how to fix; `exit_code` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = code


def usable_data_dir(path: Path, option: str, what: str = "data folder", code: int = EXIT_STARTUP) -> Path:
    """A folder to write in, made absolute, created and proven writable; else one line naming the option."""
    folder = path.expanduser().absolute()
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it is a file", str(folder))
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(f"{what} {folder} is not usable ({reason}): set {option} to a folder you can write",
                        code) from None
    return folder.resolve()


def first_line(text: str) -> str:
    """The first non-empty line of a library's (often multi-line) message."""
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


def settings_error(exc: ValidationError) -> UserError:
    """A RESTOCK_* value the settings refuse, named as the variable the user set."""
    problems = []
    for error in exc.errors():
        name = env_name(error["loc"])
        problems.append(f"{name}={error.get('input')!s} is not valid ({error['msg']})")
    return UserError("; ".join(problems) + ": fix or unset it", EXIT_USAGE)


def database_error(exc: ArgumentError | NoSuchModuleError | OperationalError | InterfaceError) -> UserError:
    """A database URL that cannot be parsed (usage) or a database that cannot be opened (start-up)."""
    detail = first_line(str(getattr(exc, "orig", None) or exc))
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return UserError(f"the database URL is not usable ({detail}): {DATABASE_FIX}", EXIT_USAGE)
    return UserError(f"cannot open the database ({detail}): {DATABASE_FIX} and that the database runs", EXIT_STARTUP)


def file_error(exc: OSError) -> UserError:
    """A file or folder that is missing or cannot be read or written."""
    where = f": {exc.filename}" if exc.filename else ""
    reason = exc.strerror or first_line(str(exc))
    return UserError(f"{reason}{where}", EXIT_USAGE)


def explain(exc: BaseException) -> UserError | None:
    """The one-line version of an error a user can fix; None for a bug, which keeps its traceback."""
    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, ReloadNotConfirmed):  # the files are written; the message says how to make mosquitto read them
        return UserError(str(exc), EXIT_FAILED)
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return settings_error(exc)
    if isinstance(exc, ArgumentError | NoSuchModuleError | OperationalError | InterfaceError):
        return database_error(exc)
    if isinstance(exc, OSError):
        return file_error(exc)
    return None


def tell(message: str, code: int) -> typer.Exit:
    """Print a command's own refusal as the one line `restock: …` on stderr; raise the returned Exit.

    Printed here rather than raised as a UserError, so a command run in-process (typer's test runner) says the same.
    """
    typer.echo(f"restock: {message}", err=True)
    return typer.Exit(code)
