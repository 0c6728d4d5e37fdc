"""Hub log lines: uvicorn's colour copy of the message stays out of both formats."""

from __future__ import annotations

import json
import logging

import pytest

from hub.logs import JsonFormatter, KeyValueFormatter


def uvicorn_record() -> logging.LogRecord:
    """A record as uvicorn logs it: `extra={"color_message": …}` carrying ANSI escapes."""
    record = logging.makeLogRecord({
        "name": "uvicorn.error", "levelno": logging.INFO, "levelname": "INFO",
        "msg": "Started server process [%d]", "args": (42,),
    })
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    record.device_id = "dash-1"  # our own structured field, which must stay
    return record


@pytest.mark.parametrize("formatter", [KeyValueFormatter(), JsonFormatter()], ids=["plain", "json"])
def test_color_message_is_dropped(formatter: logging.Formatter) -> None:
    line = formatter.format(uvicorn_record())
    assert "color_message" not in line
    assert "\x1b" not in line and "\\u001b" not in line
    assert "Started server process [42]" in line
    assert "dash-1" in line


def test_json_line_keeps_structured_fields() -> None:
    data = json.loads(JsonFormatter().format(uvicorn_record()))
    assert data["device_id"] == "dash-1" and "color_message" not in data
