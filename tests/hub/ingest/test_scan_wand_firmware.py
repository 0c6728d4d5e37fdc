"""The real wand firmware (MicroPython Unix port, sim board) scanning into a real hub over a real broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from hub.store.models import DeadLetter, ProcessedEvent
from tests.firmware.fwproc import FirmwareProcess, Note, device_config
from tests.hub.scanning import Home, cart_qty, documented_feedback, inbox_by_gtin, new_home

pytestmark = [pytest.mark.firmware, pytest.mark.broker]

KNOWN = "4006381333931"  # demo catalog: Coffee beans 1 kg
OTHER_KNOWN = "96385074"  # EAN-8, demo catalog: Water filter cartridges, 3 pack
UNKNOWN = "5901234123457"
BAD_CHECK_DIGIT = KNOWN[:-1] + "2"


@pytest.fixture
def wand_on_hub(start_hub, broker, tmp_path: Path) -> Iterator[tuple[FirmwareProcess, Home]]:
    """A household on a running hub, and its registered wand running the real firmware."""
    server = start_hub()
    home = new_home(server)
    config = device_config(
        "barcode_wand",
        home.wand,
        broker.port,
        secret=home.secret,
        scan_idle_s=0.5,
        retry_s=0.5,
        retry_max_s=1.0,
        feedback_wait_s=5.0,
        timeout_s=2.0,
    )
    fw = FirmwareProcess("barcode_wand", tmp_path / f"{home.wand}-flash", config=config).start()
    try:
        fw.wait("sleep", timeout=20)
        yield fw, home
    finally:
        fw.kill()


def session_outcome(fw: FirmwareProcess, since: int, pattern: str) -> tuple[list[Note], list[Note]]:
    """Wait for a scan session to end with `pattern`; return its feedback notes and the LED notes of the pattern."""
    shown = fw.wait("pattern", pattern, since=since, timeout=20)
    start = fw.notes.index(shown)
    fw.wait("sleep", since=start, timeout=20)
    end = next(i for i in range(start, len(fw.notes)) if fw.notes[i].what == "sleep")
    feedback = [n for n in fw.notes[since:end] if n.what == "feedback"]
    leds = [n for n in fw.notes[start + 1 : end] if n.what == "led" and n.detail != "off"]
    return feedback, leds


def assert_documented(code: str, feedback: list[Note], leds: list[Note]) -> None:
    """The hub answered `code`, a documented feedback code, and the LED showed its documented pattern."""
    documented = documented_feedback()
    assert [n.detail.split()[1] for n in feedback] == [code]
    assert code in documented
    colour, blinks = documented[code]
    assert [n.detail for n in leds] == [colour] * blinks


def counts(home: Home) -> tuple[int, int]:
    with Session(home.server.hub.engine) as session:
        processed = session.exec(select(func.count()).where(ProcessedEvent.device_id == home.wand)).one()
        dead = session.exec(select(func.count()).where(DeadLetter.device_id == home.wand)).one()
        return int(processed), int(dead)


def test_wand_firmware_scans_into_cart_and_inbox_and_rejects_misreads(wand_on_hub) -> None:
    fw, home = wand_on_hub

    # The same code twice in one session: one event with qty 2, one cart line of 2.
    mark = fw.mark()
    fw.scan(KNOWN)
    fw.scan(KNOWN)
    assert_documented("in_cart", *session_outcome(fw, mark, "in_cart"))
    assert cart_qty(home.api) == {"Coffee beans 1 kg": 2}

    mark = fw.mark()
    fw.scan(UNKNOWN)
    assert_documented("inbox", *session_outcome(fw, mark, "inbox"))
    entry = inbox_by_gtin(home.api)["0" + UNKNOWN]
    assert (entry["count"], entry["device_id"]) == (1, home.wand)
    assert counts(home) == (2, 0)

    # A misread: rejected on the wand at once (red, buzzer), and nothing is published.
    mark = fw.mark()
    fw.scan(BAD_CHECK_DIGIT)
    fw.wait("reject", BAD_CHECK_DIGIT, since=mark)
    feedback, leds = session_outcome(fw, mark, "rejected")
    fw.wait("buzz", since=mark)
    assert feedback == []
    assert [n.detail for n in leds] == [documented_feedback()["rejected"][0]] * documented_feedback()["rejected"][1]
    assert not [n for n in fw.notes[mark:] if n.what in ("event", "feedback")]
    # A good scan afterwards gets its answer; had the misread been sent, the hub would have seen it first.
    mark = fw.mark()
    fw.scan(OTHER_KNOWN)
    assert_documented("in_cart", *session_outcome(fw, mark, "in_cart"))
    assert counts(home) == (3, 0)
    assert cart_qty(home.api) == {"Coffee beans 1 kg": 2, "Water filter cartridges, 3 pack": 1}
