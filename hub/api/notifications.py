"""Notification channels of the caller's household, and its recent notifications with their deliveries."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.concurrency import run_in_threadpool

from hub.api.deps import CallerDep, ClockDep, NotifierDep, SessionDep, not_found
from hub.api.errors import BODY, errors
from hub.api.schemas import (
    MAX_ID,
    ChannelCreated,
    ChannelIn,
    ChannelOut,
    ChannelTestOut,
    DeliveryOut,
    NotificationOut,
)
from hub.notify import channels, render
from hub.services import notification_channels
from hub.store import repos
from hub.store.models import NotifyChannel

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=errors(401))
ChannelId = Annotated[int, Path(ge=1, le=MAX_ID, description="A notification channel id")]
EMAIL = r"^[^@\s]+@[^@\s]+$"


def channel_out(channel: NotifyChannel) -> ChannelOut:
    """The public view of a stored channel: an Apprise URL only masked, since it holds the service's secrets."""
    assert channel.id is not None
    return ChannelOut(id=channel.id, kind=channel.kind, target=channels.masked(channel.kind, channel.target),
                      events=channel.events.split(","), created_at=channel.created_at)


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(caller: CallerDep, session: SessionDep) -> list[ChannelOut]:
    """The household's active channels."""
    return [channel_out(c) for c in repos.active_channels(session, caller.household_id)]


@router.post("/channels", response_model=ChannelCreated, status_code=status.HTTP_201_CREATED, responses=errors(*BODY))
def add_channel(body: ChannelIn, caller: CallerDep, session: SessionDep, notifier: NotifierDep) -> ChannelCreated:
    """Add a webhook (JSON, signed with the secret in the answer), an e-mail address (refused while the hub
    has no SMTP server: it could never be delivered) or an Apprise URL for push (checked by Apprise; shown
    masked from now on)."""
    if body.kind == "webhook" and not re.fullmatch(r"^https?://\S+$", body.target):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a webhook target must be an http(s) URL")
    if body.kind == "email" and not re.fullmatch(EMAIL, body.target):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "an e-mail target must be an address")
    if body.kind == "email" and (problem := channels.email_problem(notifier.smtp)):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    try:
        channel = notification_channels.add_channel(session, caller.household_id, body.kind, body.target,
                                                    ",".join(body.events))
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return ChannelCreated(**channel_out(channel).model_dump(), secret=channel.secret)


@router.delete("/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
def remove_channel(channel_id: ChannelId, caller: CallerDep, session: SessionDep) -> None:
    """Stop sending to a channel; its pending deliveries are dropped."""
    if not notification_channels.remove_channel(session, caller.household_id, channel_id):
        raise not_found(f"channel {channel_id}")


@router.post("/channels/{channel_id}/test", response_model=ChannelTestOut, responses=errors(404, 422))
async def test_channel(
    channel_id: ChannelId, caller: CallerDep, session: SessionDep, clock: ClockDep, notifier: NotifierDep
) -> ChannelTestOut:
    """Send a test message to a channel now (no outbox, no retry) and say how it went."""
    channel = await run_in_threadpool(repos.household_channel, session, caller.household_id, channel_id)
    if channel is None:
        raise not_found(f"channel {channel_id}")
    error = await notifier.send_now(channel.kind, channel.target, channel.secret, channels.test_payload(clock.now()))
    return ChannelTestOut(channel_id=channel_id, delivered=error is None, detail=error or "delivered")


@router.get("", response_model=list[NotificationOut], responses=errors(422))
def list_notifications(
    caller: CallerDep, session: SessionDep, clock: ClockDep, notifier: NotifierDep,
    limit: int = Query(default=50, ge=1, le=500),
) -> list[NotificationOut]:
    """The household's newest notifications, with where each stands per channel."""
    notes = repos.household_notifications(session, caller.household_id, limit)
    said = render.payloads(session, notes, clock.now(), notifier.links)
    out = []
    for note in notes:
        assert note.id is not None
        deliveries = [DeliveryOut.model_validate(d) for d in repos.notification_deliveries(session, note.id)]
        out.append(NotificationOut(id=note.id, kind=note.kind, created_at=note.created_at,
                                   payload=said[note.id], deliveries=deliveries))
    return out
