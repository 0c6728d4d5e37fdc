"""The API documentation page (/docs, Swagger UI) and the site icon, served from this hub.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank without internet, and start them
with an inline script. Here the assets come from the `fastapi-offline` package (it ships swagger-ui-dist's
bundle and CSS) and the start-up code is a file of the dashboard's static folder, so the page runs under a
policy that allows scripts from this origin only (headers.DOCS_CSP). /redoc leads to /docs.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from hub.http.headers import DOCS_CSP

ASSETS_URL = "/docs/assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
FAVICON = Path(__file__).resolve().parents[1] / "web" / "static" / "favicon.svg"
_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
{css}</head>
"""


def swagger_page(title: str, openapi_url: str) -> str:
    """Swagger UI: the bundle, then the dashboard's start-up file, which reads the OpenAPI address."""
    css = f'<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">\n'
    return _HEAD.format(title=escape(title), css=css) + (
        f'<body>\n<div id="swagger-ui" data-openapi="{escape(openapi_url)}"></div>\n'
        f'<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>\n'
        '<script src="/web/static/api-docs.js"></script>\n</body>\n</html>\n'
    )


def install(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the documentation page, its assets, /redoc's redirect to it and /favicon.ico, on an app created
    with docs_url=None and redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    headers = {"content-security-policy": DOCS_CSP}
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    def swagger() -> HTMLResponse:
        return HTMLResponse(swagger_page(f"{app.title} - API", openapi_url), headers=headers)

    @app.get(redoc_url, include_in_schema=False)
    def redoc() -> RedirectResponse:
        # ReDoc's page fetches its logo from its vendor's site whatever the options: one docs page instead.
        return RedirectResponse(docs_url, status_code=308)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # An SVG under the name browsers ask for: every current browser shows it.
        return FileResponse(FAVICON, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"})
