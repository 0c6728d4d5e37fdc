"""Wire the HTTP edge into the hub app: body limits, security headers, the sign-in guard."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI

from hub.http.body_limit import BodyLimit
from hub.http.headers import SecurityHeaders
from hub.http.signin import guard_from_settings
from hub.services import accounts
from hub.settings import Settings


def install(app: FastAPI, settings: Settings, uploads: Iterable[str] = ()) -> None:
    """Add the edge middleware to `app`; `uploads` are the paths allowed the larger upload body limit."""
    accounts.limit_password_hashing(settings.signin.hash_parallel, settings.signin.hash_queue)
    app.state.signin_guard = guard_from_settings(settings.signin)
    limits = dict.fromkeys(uploads, settings.http.max_upload_bytes)
    app.add_middleware(BodyLimit, default=settings.http.max_body_bytes, per_path=limits)
    # Added last, so it is the outer one: the 413s of the body limit carry the headers too.
    docs = [url for url in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if url]
    app.add_middleware(SecurityHeaders, docs_paths=docs)
