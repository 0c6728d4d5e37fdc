"""Server-rendered household dashboard: Jinja2 pages under /web/, one CSS and one JS file, live via SSE."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hub.web import pages_actions, pages_auth, pages_home, pages_household, pages_orders, pages_supplies, stream
from hub.web.render import HERE, page
from hub.web.session import SignInRequired, WebError, signin_url


def install(app: FastAPI) -> None:
    """Mount the dashboard's routes, static files and error pages on the hub app."""
    for module in (pages_auth, pages_home, pages_orders, pages_household, pages_supplies, pages_actions, stream):
        app.include_router(module.router)
    app.mount("/web/static", StaticFiles(directory=HERE / "static"), name="web-static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """The dashboard is the front page (it sends to sign-in when needed)."""
        return RedirectResponse("/web/", status_code=303)

    @app.get("/web", include_in_schema=False)
    def web_root() -> RedirectResponse:
        return RedirectResponse("/web/", status_code=308)

    @app.exception_handler(SignInRequired)
    async def to_signin(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(signin_url(exc.next_url), status_code=303)

    @app.exception_handler(WebError)
    async def error_page(request: Request, exc: WebError) -> HTMLResponse:
        return page(request, "error.html", None, status_code=exc.status, message=exc.message)
