"""Error answers of the REST API as the OpenAPI document declares them: one model per shape, one helper.

Every error body is `{"detail": ...}`. For most statuses the detail is a sentence. A 422 carries one of
three: FastAPI's list of field errors (the request does not fit the schema), a sentence (it fits, but breaks
a rule such as "max_stock must hold at least one pack"), or a catalog file's problems by line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ErrorOut(BaseModel):
    """An error: `detail` says what went wrong, written for a person."""

    detail: str


class FieldError(BaseModel):
    """One field of the request that does not fit the schema (FastAPI's validation error)."""

    # FastAPI adds `input`, `ctx` and `url` as pydantic reports them; they are informative only.
    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class RowProblem(BaseModel):
    """One problem of an imported file: 1-based line, column (None = whole line), reason."""

    line: int
    column: str | None
    reason: str


class FileProblems(BaseModel):
    """Why an imported file was refused, every problem listed; nothing of it was imported."""

    message: str
    errors: list[RowProblem]


class InvalidOut(BaseModel):
    """422: the fields that do not fit the schema, the rule the request breaks, or the problems of a file."""

    detail: list[FieldError] | str | FileProblems


# What each error status means in this API; a route names the ones it can answer.
MEANINGS: dict[int, str] = {
    400: "The request body could not be read (not UTF-8, not JSON, broken form data)",
    401: "Not signed in: send 'Authorization: Bearer <token>' (or, for shops, a valid signature)",
    404: "Not found, or not the caller's household's (the two answer alike)",
    409: "The request is valid, but the resource's state does not allow it now",
    413: "The request body is larger than this route accepts",
    415: "The body's Content-Type is not one this route reads",
    422: "The request does not fit the schema, or breaks a rule of the hub",
    429: "Too many attempts: wait the Retry-After seconds",
}
# A JSON body can be unreadable, too large, or not fit the schema.
BODY = (400, 413, 422)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for error statuses, each with its meaning and the shared body model."""
    return {code: {"model": InvalidOut if code == 422 else ErrorOut, "description": MEANINGS[code]} for code in codes}
