"""GET /web/events: the household's live events as Server-Sent Events (cookie auth).

Each stream ends after STREAM_SECONDS and the browser's EventSource reconnects by itself (`retry`). That
keeps a forgotten tab from holding up a hub shutdown for longer than that (uvicorn waits for open
responses), and the page re-reads what it shows whenever the stream reopens, so nothing is missed between.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from sqlmodel import Session

from hub.api.deps import BusDep, Runtime, RuntimeDep
from hub.notify import render
from hub.notify.live import LiveBus
from hub.notify.worker import NOTIFICATION
from hub.web.session import user_from_cookie

router = APIRouter(prefix="/web", include_in_schema=False)
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 30.0
RETRY_MS = 1000


def _household_of(request: Request, runtime: Runtime) -> int | None:
    with Session(runtime.engine) as session:
        user = user_from_cookie(session, request, runtime.clock)
        return user.household_id if user is not None else None


def frame(kind: str, data: object) -> str:
    """One SSE frame: `event: <kind>` and a single-line JSON `data:`."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


# A new notification travels on the bus as its id; the stream sends its whole payload, built when sent.
Expand = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


async def _frames(
    bus: LiveBus, household_id: int, seconds: float, keepalive: float, expand: Expand
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    with bus.subscribe(household_id) as sub:
        yield f"retry: {RETRY_MS}\n" + frame("hello", {"household": household_id})
        while (left := deadline - loop.time()) > 0:
            item = await sub.get(within=min(keepalive, left))
            dropped = sub.take_dropped()
            if dropped:
                # The page cannot know what it missed: tell it to re-read everything.
                yield frame("resync", {"dropped": dropped})
            if item is None:
                if deadline - loop.time() > 0:
                    yield ": keepalive\n\n"
                continue
            data = item.data
            if item.kind == NOTIFICATION and isinstance(data, dict):
                data = await expand(data) or data
            yield frame(item.kind, data)


@router.get("/events")
async def events(request: Request, runtime: RuntimeDep, bus: BusDep) -> Response:
    """Stream `event: <kind>` / `data: <json>` frames for the signed-in household, keepalive every 15 s."""
    household_id = await run_in_threadpool(_household_of, request, runtime)
    if household_id is None:
        return Response("sign in first\n", status_code=401, media_type="text/plain")
    signed_in = household_id

    async def expand(data: dict[str, Any]) -> dict[str, Any] | None:
        note_id = data.get("id")
        if not isinstance(note_id, int):
            return None
        return await run_in_threadpool(render.one, runtime.engine, signed_in, note_id, runtime.clock.now(),
                                       runtime.notifier.links)

    return StreamingResponse(
        _frames(bus, household_id, STREAM_SECONDS, KEEPALIVE_SECONDS, expand),
        media_type="text/event-stream",
        # no-transform and X-Accel-Buffering keep proxies (nginx) from buffering the stream.
        headers={"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no"},
    )
