"""In a hub process that runs ingest, order steps become notifications in the apply thread between batches, so
the notifier's writes never wait beside ingest's for SQLite's one write lock; and two pumps never run at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session, func, select

from hub.ingest.applier import Applier
from hub.ingest.processor import Processor
from hub.jobs import DeliveryPolicy
from hub.notify.actions import ActionLinks
from hub.notify.channels import SmtpConfig
from hub.notify.live import LiveBus
from hub.notify.worker import GATHER_S, NOTIFICATION, Notifier
from hub.store.models import Notification
from hub.store.types import utcnow
from tests.hub.ingest.world import GOOD, build, press


def _notifier(engine: object, tmp_path: Path, bus: LiveBus) -> Notifier:
    return Notifier(engine, bus, utcnow, SmtpConfig(None), DeliveryPolicy(), poll_s=600.0,  # type: ignore[arg-type]
                    links=ActionLinks(tmp_path, "http://127.0.0.1:8000"))


def _notes(engine: object) -> int:
    with Session(engine) as session:  # type: ignore[call-overload]
        return int(session.exec(select(func.count()).select_from(Notification)).one())


def _until(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_the_apply_thread_tells_new_orders_without_the_notifiers_own_turn(tmp_path: Path) -> None:
    engine = build(f"sqlite:///{tmp_path / 'hub.db'}")
    bus = LiveBus()
    notifier = _notifier(engine, tmp_path, bus)  # never run: its own turns never come
    processor = Processor(engine)
    processor.after_batch = notifier.pump_between_batches
    delivered = threading.Event()
    applier = Applier(processor, lambda replies, size: (applier.published(), delivered.set()))
    applier.start()
    try:
        applier.put(press(GOOD, 1))
        _until(lambda: _notes(engine) == 1)
        time.sleep(GATHER_S)  # the pump runs at most every GATHER_S
        applier.put(press(GOOD, 2))
        _until(lambda: _notes(engine) == 2)
    finally:
        applier.stop()
        applier.join(30)
        engine.dispose()


def test_a_pump_between_batches_waits_for_none_and_skips_while_the_notifier_pumps(tmp_path: Path) -> None:
    engine = build(f"sqlite:///{tmp_path / 'hub.db'}")
    bus = LiveBus()
    notifier = _notifier(engine, tmp_path, bus)
    Processor(engine).handle_batch([press(GOOD, 1)])
    with notifier._pumping:  # the notifier's own turn is pumping
        started = time.monotonic()
        notifier.pump_between_batches()
        assert time.monotonic() - started < 0.5 and _notes(engine) == 0
    notifier.pump_between_batches()
    assert _notes(engine) == 1
    notifier.pump_between_batches()  # within GATHER_S of the last: nothing
    Processor(engine).handle_batch([press(GOOD, 2)])
    notifier.pump_between_batches()
    assert _notes(engine) == 1
    engine.dispose()


def test_what_the_apply_thread_tells_reaches_the_live_bus(tmp_path: Path) -> None:
    engine = build(f"sqlite:///{tmp_path / 'hub.db'}")
    bus = LiveBus()
    notifier = _notifier(engine, tmp_path, bus)
    seen: list[tuple[int, str, dict[str, object]]] = []
    bus.relay = seen.extend  # every event the bus publishes, from any thread
    Processor(engine).handle_batch([press(GOOD, 1)])
    notifier.pump_between_batches()
    assert [kind for _, kind, _ in seen] == [NOTIFICATION]
    engine.dispose()
