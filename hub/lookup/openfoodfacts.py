"""Name suggestions for unknown barcodes from Open Food Facts, off the ingest path.

The scan is answered (`inbox`) and committed first; the hub then queues the GTIN here and a worker thread
asks Open Food Facts through the `openfoodfacts` SDK and writes the outcome on the inbox entries
(`suggestion`, `lookup_status`, `lookup_detail`). A slow, refusing or unreachable service therefore never
delays device feedback; the entry just says why it has no suggestion.

Open Food Facts' rules for API users (https://openfoodfacts.github.io/openfoodfacts-server/api/): identify
the app with a custom User-Agent "AppName/Version (contact)", and stay under the per-IP rate limits, which
are 15 requests/min for product reads (GET /api/v2/product/{code}) at the time of writing (an older
revision said 100/min). We default to 10/min, cache answers, and back off on HTTP 429 (Retry-After).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from typing import Any

import requests
from openfoodfacts import API
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.services import inbox as inbox_service

log = logging.getLogger(__name__)

FIELDS = ["product_name", "generic_name", "brands", "quantity"]
CACHE_SIZE = 2048
QUEUE_SIZE = 256
# The worker waits this long at most for a rate-limit token before giving up on a lookup.
MAX_TOKEN_WAIT_S = 60.0
DEFAULT_BACKOFF_S = 60.0


def user_agent() -> str:
    """Our own User-Agent, as Open Food Facts asks of every API client."""
    try:
        version = metadata.version("restock")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"restock/{version} (+https://github.com/restock)"


class LookupStatus(StrEnum):
    """Why an inbox entry has (or has no) suggestion."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    OFFLINE = "offline"
    ERROR = "error"
    DISABLED = "disabled"


# Answers that are worth keeping: asking again would give the same result for a while.
FINAL = frozenset({LookupStatus.FOUND, LookupStatus.NOT_FOUND})
DISABLED_DETAIL = "name lookup is off (set RESTOCK_OFF_ENABLED=1 to ask Open Food Facts)"


@dataclass(frozen=True)
class LookupResult:
    """The outcome of one lookup."""

    status: LookupStatus
    suggestion: str | None = None
    detail: str = ""


def off_code(gtin14: str) -> str:
    """The code Open Food Facts files a GTIN-14 under: EAN-8 as 8 digits, the rest as (at least) EAN-13."""
    stripped = gtin14.lstrip("0")
    return stripped.zfill(8) if len(stripped) <= 8 else stripped.zfill(13)


def suggestion_of(product: dict[str, Any]) -> str | None:
    """A display name from the documented v2 product fields, e.g. "Nutella (Ferrero) 400 g"."""
    name = str(product.get("product_name") or product.get("generic_name") or "").strip()
    if not name:
        return None
    brand = str(product.get("brands") or "").split(",")[0].strip()
    quantity = str(product.get("quantity") or "").strip()
    text = name
    if brand and brand.lower() not in name.lower():
        text += f" ({brand})"
    if quantity and quantity.lower() not in name.lower():
        text += f" {quantity}"
    return " ".join(text.split())[:200]


class RateLimiter:
    """A token bucket of `per_minute` tokens, plus a pause the server can impose (HTTP 429)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.paused_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def delay(self) -> float:
        """Seconds until a token is available (0 when one is available now)."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            wait_pause = max(0.0, self.paused_until - now)
            wait_token = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            return max(wait_pause, wait_token)

    def try_acquire(self) -> bool:
        """Take a token if one is available now."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            if now < self.paused_until or self.tokens < 1:
                return False
            self.tokens -= 1
            return True

    def pause(self, seconds: float) -> None:
        """Make no request for `seconds` (the server said we were too fast)."""
        with self._lock:
            self.paused_until = max(self.paused_until, self.clock() + seconds)


class TtlCache:
    """A small in-memory cache of final lookup results, oldest evicted first."""

    def __init__(self, ttl_s: float, size: int = CACHE_SIZE, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, LookupResult]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> LookupResult | None:
        """A cached result that has not expired."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] <= self.clock():
                del self._items[key]
                return None
            return item[1]

    def put(self, key: str, value: LookupResult) -> None:
        """Keep a result for the TTL."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._items[key] = (self.clock() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class OpenFoodFactsClient:
    """Looks up one GTIN on Open Food Facts (API v2 product read) with timeout, cache and rate limit."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 3.0,
        per_minute: int = 10,
        cache_s: float = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = API(user_agent=user_agent())
        # The SDK derives its host from an environment name (org/net) only; the product resource's base
        # URL is a plain attribute, which lets an operator use a mirror and tests a local server.
        self.api.product.base_url = base_url.rstrip("/")
        # The SDK's constructor takes whole seconds; its config model takes a float.
        self.api.api_config.timeout = timeout_s
        self.limiter = RateLimiter(per_minute, clock)
        self.cache = TtlCache(cache_s, clock=clock)

    def lookup(self, gtin14: str) -> LookupResult:
        """Ask Open Food Facts for a GTIN-14's product name; never raises for network or HTTP trouble."""
        code = off_code(gtin14)
        cached = self.cache.get(code)
        if cached is not None:
            return cached
        if not self.limiter.try_acquire():
            return LookupResult(LookupStatus.RATE_LIMITED, None, "too many lookups; try again later")
        result = self._ask(code)
        if result.status in FINAL:
            self.cache.put(code, result)
        return result

    def _ask(self, code: str) -> LookupResult:
        try:
            product = self.api.product.get(code, fields=FIELDS)
        except requests.Timeout:
            return LookupResult(LookupStatus.TIMEOUT, None, f"no answer within {self.api.api_config.timeout:g} s")
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429:
                self.limiter.pause(_retry_after(exc.response))
                return LookupResult(LookupStatus.RATE_LIMITED, None, "Open Food Facts asked us to slow down (HTTP 429)")
            if status >= 500:
                return LookupResult(LookupStatus.OFFLINE, None, f"Open Food Facts is unavailable (HTTP {status})")
            return LookupResult(LookupStatus.ERROR, None, f"unexpected answer (HTTP {status})")
        except requests.ConnectionError:
            return LookupResult(LookupStatus.OFFLINE, None, "Open Food Facts cannot be reached")
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            # ValueError covers a body that is not JSON; KeyError/TypeError a JSON of another shape.
            return LookupResult(LookupStatus.ERROR, None, f"unexpected answer ({type(exc).__name__})")
        if product is None:
            return LookupResult(LookupStatus.NOT_FOUND, None, "Open Food Facts does not know this barcode")
        if not isinstance(product, dict):
            return LookupResult(LookupStatus.ERROR, None, "unexpected answer (product is not an object)")
        name = suggestion_of(product)
        if name is None:
            return LookupResult(LookupStatus.FOUND, None, "Open Food Facts knows this barcode but has no name for it")
        return LookupResult(LookupStatus.FOUND, name, "from Open Food Facts")


def _retry_after(response: Any) -> float:
    try:
        return max(1.0, min(3600.0, float(response.headers.get("Retry-After", DEFAULT_BACKOFF_S))))
    except (TypeError, ValueError):
        # Retry-After may also be an HTTP date; a minute is a safe guess then.
        return DEFAULT_BACKOFF_S


class LookupWorker:
    """A background thread that looks GTINs up and stores the outcome on their open inbox entries."""

    def __init__(self, engine: Engine, client: OpenFoodFactsClient) -> None:
        self.engine = engine
        self.client = client
        self._queue: queue.Queue[str | None] = queue.Queue(QUEUE_SIZE)
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="off-lookup", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current lookup (each is bounded by the timeout)."""
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, gtin14: str) -> None:
        """Queue a GTIN-14 for lookup; called after the scan's transaction committed. Never blocks."""
        with self._lock:
            if gtin14 in self._pending:
                return
            try:
                self._queue.put_nowait(gtin14)
            except queue.Full:
                self._store(gtin14, LookupResult(LookupStatus.RATE_LIMITED, None, "too many lookups waiting"))
                return
            self._pending.add(gtin14)

    def _run(self) -> None:
        while not self._stop.is_set():
            gtin = self._queue.get()
            if gtin is None:
                return
            try:
                self._one(gtin)
            except Exception:
                # One failed write must not end suggestions for the rest of the hub's life.
                log.exception("name lookup failed", extra={"gtin": gtin})
            finally:
                with self._lock:
                    self._pending.discard(gtin)

    def _one(self, gtin: str) -> None:
        wait = self.client.limiter.delay()
        if 0 < wait <= MAX_TOKEN_WAIT_S and self._stop.wait(wait):
            return
        result = self.client.lookup(gtin)
        log.info("name lookup", extra={"gtin": gtin, "status": str(result.status)})
        self._store(gtin, result)

    def _store(self, gtin: str, result: LookupResult) -> None:
        with Session(self.engine) as session:
            if inbox_service.record_lookup(session, gtin, str(result.status), result.suggestion, result.detail):
                session.commit()
