"""Catalog import through the API: a CSV into the caller's household catalog, all or nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlmodel import Session
from starlette.datastructures import UploadFile

from hub.api.deps import CallerDep, SessionDep, not_found
from hub.api.errors import FileProblems, RowProblem, errors
from hub.domain.catalog import RowError, parse_catalog
from hub.services import catalog as catalog_service

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"], responses=errors(401))

MAX_BYTES = 5 * 1024 * 1024
_CSV_BODY = {
    "requestBody": {
        "description": "The catalog CSV: a multipart form with a `file` field, or the CSV itself as text/csv.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
        "required": True,
    }
}


class CatalogImportOut(BaseModel):
    """What the import did (or would do, on a dry run)."""

    rows: int
    created: int
    updated: int
    unchanged: int
    gtins_added: int
    dry_run: bool


def _invalid(message: str, problems: list[RowError]) -> HTTPException:
    rows = [RowProblem(line=e.line, column=e.column, reason=e.reason) for e in problems]
    detail = FileProblems(message=message, errors=rows).model_dump()
    return HTTPException(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


async def _csv_text(request: Request) -> str:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES + 64 * 1024:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"the file is larger than {MAX_BYTES} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "send the CSV in a form field named 'file'")
        data = await upload.read(MAX_BYTES + 1)
    elif content_type in ("text/csv", "text/plain", "application/csv"):
        data = await request.body()
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the CSV as text/csv or as multipart/form-data field 'file'"
        )
    if len(data) > MAX_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"the file is larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _invalid("the file is not UTF-8 text", [RowError(line, None, "not UTF-8 text")]) from None


def _import(
    session: Session, text: str, household_id: int, currency: str, merchant: str, dry_run: bool
) -> catalog_service.ImportResult:
    parsed = parse_catalog(text, default_currency=currency)
    return catalog_service.import_catalog(
        session, parsed, merchant=merchant, household_id=household_id, dry_run=dry_run
    )


@router.post(
    "/import", response_model=CatalogImportOut, openapi_extra=_CSV_BODY, responses=errors(400, 404, 413, 415, 422)
)
async def import_catalog(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    dry_run: Annotated[bool, Query(description="Validate and count, write nothing")] = False,
    merchant: Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="Merchant of the SKUs")] = "demo",
) -> CatalogImportOut:
    """Import products of the demo shop or one of the household's own shops into its catalog, all or nothing.

    Any bad row imports nothing and is reported (422); a merchant that is not the household's gives 404.
    """
    text = await _csv_text(request)
    try:
        result = await run_in_threadpool(
            _import, session, text, caller.household_id, caller.household.currency, merchant, dry_run
        )
    except catalog_service.UnknownMerchantError:
        # Another household's shop answers like a missing one: its name reveals nothing.
        raise not_found(f"merchant {merchant}") from None
    if not result.ok:
        raise _invalid(f"{len(result.errors)} problem(s) in the file; nothing was imported", result.errors)
    return CatalogImportOut(
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        gtins_added=result.gtins_added,
        dry_run=result.dry_run,
    )
