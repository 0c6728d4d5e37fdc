"""Issue 8's background parts of a hub: merchant sender, notifier and Home Assistant discovery, wired once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from hub.ingest.mqtt import Ingest
from hub.jobs import RetryPolicy, Sender
from hub.notify.channels import SmtpConfig
from hub.notify.homeassistant import HomeAssistantSync
from hub.notify.outbox import DeliveryPolicy
from hub.notify.worker import Notifier
from hub.services.fulfilment import ShopRequests

if TYPE_CHECKING:
    from hub.app import Hub


class AfterPress:
    """Builds the sender, notifier and discovery sync from the hub's settings; `start` returns their tasks."""

    def __init__(self, hub: Hub) -> None:
        settings = hub.settings
        self.hub = hub
        self.policy = RetryPolicy(
            timeout_s=settings.merchant_timeout_s,
            base_s=settings.merchant_retry_base_s,
            max_s=settings.merchant_retry_max_s,
            max_attempts=settings.merchant_max_attempts,
            lease_s=settings.merchant_lease_s,
        )
        self.sender = Sender(hub.engine, hub.clock.now, ShopRequests(self.policy, hub.clock.now), "merchant")
        hub.scheduler.dispatch = self.sender.dispatch
        hub.scheduler.policy = self.policy
        smtp = SmtpConfig(settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password,
                          settings.smtp_from, settings.smtp_starttls)
        delivery = DeliveryPolicy(settings.notify_timeout_s, settings.notify_retry_base_s,
                                  settings.notify_retry_max_s, settings.notify_max_attempts)
        self.notifier = Notifier(hub.engine, hub.bus, hub.clock.now, smtp, delivery, settings.notify_poll_s,
                                 settings.device_check_s, timedelta(hours=settings.offline_after_h),
                                 settings.low_battery_mv)
        self.homeassistant: HomeAssistantSync | None = None

    def start(self, ingest: Ingest) -> list[asyncio.Task[None]]:
        """Start the background tasks (on the hub's loop)."""
        tasks = [
            asyncio.create_task(self.sender.run(), name="merchant-sender"),
            asyncio.create_task(self.notifier.run(), name="notifier"),
        ]
        if self.hub.settings.homeassistant:
            self.homeassistant = HomeAssistantSync(
                self.hub.engine, self.hub.bus, ingest.publish, ingest.connected.is_set
            )
            tasks.append(asyncio.create_task(self.homeassistant.run(), name="homeassistant"))
        return tasks
