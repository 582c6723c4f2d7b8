"""When an attempt counts as unhealthy, and for how long an unhealthy endpoint is evicted.

With no `health` policy, fastgw does what users expect of failover (agentgateway issues #1087,
#1500: a 503, or a 429 without `Retry-After`, never moved traffic): a connect error, a reset
before the response head, an upstream timeout, a 5xx or a 429 is unhealthy and evicts at once.
A 429 is evicted for as long as the provider says (`Retry-After`, `retry-after-ms`,
`x-ratelimit-reset*`); anything else for `DEFAULT_EVICTION`, growing with each repeat.

A `health` policy refines it: `unhealthyExpression` (CEL over `response.code` and
`response.headers`; an attempt with no response at all is always unhealthy) and
`eviction {duration, consecutiveFailures, healthThreshold, restoreHealth}`.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from fastgw.cel.expression import Expression
    from fastgw.context import RequestContext

#: the first eviction without a duration from the config or the provider (agentgateway's 3 s)
DEFAULT_EVICTION: Final = 3.0
#: repeated evictions grow as duration x (times evicted before + 1), up to this
MAX_EVICTION: Final = 300.0
#: a provider's own reset time is believed up to this
MAX_PROVIDER_EVICTION: Final = 3600.0

#: a response head's fields (lowercase names)
Fields = Sequence[tuple[bytes, bytes]]

_GO_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class HealthRule:
    """A compiled `health` policy (the default one when no policy is set)."""

    #: CEL, true = unhealthy; None: the default (5xx or 429)
    unhealthy: Expression | None = None
    #: eviction.duration; None: the provider's reset time for a 429, else DEFAULT_EVICTION
    duration: float | None = None
    consecutive_failures: int = 1
    #: evict only once the health score is at or below this (None: whatever the score)
    health_threshold: float | None = None
    restore_health: float = 1.0

    def is_unhealthy(self, ctx: RequestContext | None, status: int, fields: Fields) -> bool:
        """Whether an answer with `status` (0: none came) is unhealthy."""
        if status == 0:
            return True
        expr = self.unhealthy
        if expr is None:
            return status >= 500 or status == 429
        if ctx is None:
            return False
        from fastgw.cel.vars import vars_of  # the CEL layer sits above this module

        response = vars_of(ctx).response
        response.observe(status, list(fields))
        try:
            return expr.matches(vars_of(ctx))
        finally:
            response.observe(0, None)

    def eviction(self, status: int, fields: Fields, times_before: float, now_wall: float) -> float:
        """Seconds to evict for."""
        if self.duration is not None:
            return min(self.duration * (times_before + 1), MAX_EVICTION)
        if status == 429:
            told = provider_reset(fields, now_wall)
            if told is not None:
                return told
        return min(DEFAULT_EVICTION * (times_before + 1), MAX_EVICTION)


DEFAULT_RULE: Final = HealthRule()


def provider_reset(fields: Fields, now_wall: float | None = None) -> float | None:
    """How long a provider asks to be left alone, from its rate-limit answer's fields: `retry-after`
    (seconds or an HTTP date, RFC 9110 10.2.3), `retry-after-ms`, `x-ratelimit-reset` (seconds, or
    a Unix time), OpenAI's `x-ratelimit-reset-requests`/`-tokens` (Go durations such as `6m0s`),
    the longest of them. None when none says."""
    found: float | None = None
    for name, raw in fields:
        if not name.startswith((b"retry-after", b"x-ratelimit-reset")):
            continue
        value = raw.decode("latin-1").strip()
        seconds = _seconds(name, value, time.time() if now_wall is None else now_wall)
        if seconds is not None and seconds > 0 and (found is None or seconds > found):
            found = seconds
    return None if found is None else min(found, MAX_PROVIDER_EVICTION)


def _seconds(name: bytes, value: str, now_wall: float) -> float | None:
    try:
        if name == b"retry-after-ms":
            return float(value) / 1000.0
        if name == b"retry-after":
            if value.isdigit():
                return float(value)
            when = email.utils.parsedate_to_datetime(value)
            return when.timestamp() - now_wall
        if name == b"x-ratelimit-reset":
            number = float(value)
            return number - now_wall if number > 1e9 else number
        if name in (b"x-ratelimit-reset-requests", b"x-ratelimit-reset-tokens"):
            parts = _GO_DURATION.findall(value)
            if not parts:
                return float(value)
            return sum(float(n) * _UNIT[u] for n, u in parts)
    except (ValueError, TypeError, OverflowError):
        return None
    return None
