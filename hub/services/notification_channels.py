"""A household's notification channels (e-mail, webhook, Apprise push), as the API and the dashboard add and
remove them."""

from __future__ import annotations

from sqlmodel import Session

from hub.notify import channels
from hub.services.transaction import committed
from hub.store.models import NotifyChannel


def add_channel(
    session: Session, household_id: int, kind: str, target: str, events: str = channels.ALL_EVENTS
) -> NotifyChannel:
    """A new active channel, committed; a webhook's signing secret is on it to be shown once. ValueError, with
    nothing written, when the target or the choice of events cannot be used."""
    with committed(session):
        return channels.add_channel(session, household_id, kind, target, events)


def remove_channel(session: Session, household_id: int, channel_id: int) -> bool:
    """Stop sending to a channel of the household (its pending deliveries are dropped); False if there is none."""
    with committed(session):
        return channels.remove_channel(session, household_id, channel_id)
