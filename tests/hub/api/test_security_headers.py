"""Every response carries the security headers: each route of the app (API, dashboard, docs, static files),
signed in or not, errors and refusals included; the dashboard's pages hold no inline script or style."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, compile_path

from hub.web.render import HERE as WEB
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = pytest.mark.broker

DIRECTIVES = {
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
FIXED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
# Inline code in markup: script elements without src, event-handler attributes, style attributes and elements.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style[\s>]|javascript:", re.IGNORECASE
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: headers do not depend on the database."""
    return f"sqlite:///{tmp_path / 'restock.db'}"


def policy(response: httpx.Response) -> dict[str, str]:
    """The Content-Security-Policy header as directive -> sources."""
    header = response.headers.get("content-security-policy", "")
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def header_problems(response: httpx.Response, where: str) -> list[str]:
    """What is missing or weak in a response's security headers."""
    problems = [
        f"{where}: {name} is {response.headers.get(name)!r}, not {value!r}"
        for name, value in FIXED.items()
        if response.headers.get(name) != value
    ]
    if "camera=()" not in response.headers.get("permissions-policy", ""):
        problems.append(f"{where}: no Permissions-Policy")
    csp = policy(response)
    for directive, sources in DIRECTIVES.items():
        if directive not in csp or not csp[directive].startswith(sources):
            problems.append(f"{where}: CSP {directive} is {csp.get(directive)!r}")
    if "'unsafe-inline'" in csp.get("script-src", "") or "'unsafe-eval'" in csp.get("script-src", ""):
        problems.append(f"{where}: CSP allows inline script: {csp['script-src']}")
    return problems


def every_route(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of each route the app serves, path parameters filled with a harmless value."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            yield "GET", f"{route.path}/app.css"
            continue
        assert context.path is not None
        path = context.path
        for name in compile_path(path)[2]:
            path = re.sub(r"\{" + name + r"(:[a-z]+)?\}", "1", path)
        for method in sorted(context.methods or {"GET"}):
            yield method, path


def _bug() -> None:
    raise RuntimeError("a bug in a route")


def request_headers(client: httpx.Client, method: str, path: str) -> httpx.Response:
    """Send a request and read only the head (the dashboard's event stream never ends)."""
    with client.stream(method, path) as response:
        return response


def test_every_route_answers_with_the_security_headers(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "csp-button")
    token = api.client.headers["Authorization"].removeprefix("Bearer ")
    anonymous = httpx.Client(base_url=server.url, timeout=20)
    signed_in = httpx.Client(
        base_url=server.url, timeout=20, headers=api.client.headers, cookies={"restock_session": token}
    )
    routes = list(every_route(server.app))
    assert len(routes) > 60 and ("GET", "/web/static/app.css") in routes and ("GET", "/docs") in routes
    problems: list[str] = []
    statuses: set[int] = set()
    for method, path in routes:
        for who, client in (("anonymous", anonymous), ("signed in", signed_in)):
            response = request_headers(client, method, path)
            statuses.add(response.status_code)
            problems += header_problems(response, f"{method} {path} ({who}) -> {response.status_code}")
    # Errors, refusals and what no route serves carry them too, a route failing with a bug included.
    server.app.add_api_route("/test-only/bug", _bug)
    extras = {
        "unhandled error": anonymous.get("/test-only/bug"),
        "unknown path": anonymous.get("/no/such/page"),
        "unknown API path": anonymous.get("/api/v1/nothing-here"),
        "wrong method": anonymous.delete("/healthz"),
        "too large": anonymous.post("/api/v1/signup", content=b"{" + b" " * 70_000 + b"}"),
        "static file": anonymous.get("/web/static/app.js"),
        "missing static file": anonymous.get("/web/static/nothing.js"),
    }
    for what, response in extras.items():
        statuses.add(response.status_code)
        problems += header_problems(response, f"{what} -> {response.status_code}")
    assert not problems, "responses without proper security headers:\n" + "\n".join(problems)
    # The walk met successes, redirects and the usual refusals, so each kind of answer was checked.
    assert {200, 303, 401, 404, 405, 413, 422, 500} <= statuses, statuses


def test_the_dashboard_policy_is_strict_and_its_pages_hold_no_inline_code(
    start_hub: Callable[..., HubServer],
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    add_button(api, "csp-button")
    token = api.client.headers["Authorization"].removeprefix("Bearer ")
    browser = httpx.Client(base_url=server.url, timeout=20, cookies={"restock_session": token})
    pages = ["/web/", "/web/orders", "/web/cart", "/web/inbox", "/web/supplies", "/web/devices", "/web/settings"]
    for path in [*pages, "/web/signup"]:
        response = browser.get(path)
        assert response.status_code == 200, path
        csp = policy(response)
        # Styles too come from this origin only: no page needs 'unsafe-inline' for anything.
        assert csp["default-src"] == "'none'" and csp["style-src"] == "'self'" and csp["script-src"] == "'self'"
        assert csp["connect-src"] == "'self'" and csp["img-src"] == "'self'"
        inline = INLINE.findall(response.text)
        assert not inline, f"{path} has inline code: {inline}"
    # The templates themselves, including pages the walk above could not reach with data (order, errors).
    for template in sorted((WEB / "templates").glob("*.html")):
        inline = INLINE.findall(template.read_text())
        assert not inline, f"{template.name} has inline code: {inline}"


def test_api_docs_run_only_this_origins_scripts(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    assert httpx.get(server.url + "/redoc", timeout=20).headers["location"] == "/docs"
    for path in ("/docs",):
        response = httpx.get(server.url + path, timeout=20)
        assert response.status_code == 200
        assert not header_problems(response, path)
        csp = policy(response)
        # Everything the page loads is this hub's: no CDN, no inline script, so script-src is 'self' alone.
        assert csp["script-src"] == "'self'" and csp["connect-src"] == "'self'"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), f"{path} has an inline script"
        loaded = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert loaded and all(url.startswith("/") for url in loaded), loaded
        for url in loaded:
            asset = httpx.get(server.url + url, timeout=20)
            assert asset.status_code == 200 and len(asset.content) > 100, url
        assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
    icon = httpx.get(server.url + "/favicon.ico", timeout=20)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert not header_problems(icon, "/favicon.ico")
    # Everything else keeps the strict policy, the OpenAPI document included.
    assert policy(httpx.get(server.url + "/openapi.json", timeout=20))["script-src"] == "'self'"
