"""Selection and health on a fake clock: tiers, exclusion of tried endpoints, P2C spread and
weights, EWMA latency, eviction (default rule, provider reset headers, growth, restore), and the
table shared by forked processes."""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from fastgw.balance.health import DEFAULT_EVICTION, HealthRule, provider_reset
from fastgw.balance.select import Balancer, Endpoint
from fastgw.balance.table import HEALTH, LATENCY, HealthTable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _balancer(
    tiers: list[list[str]], weights: dict[str, float] | None = None, rule: HealthRule | None = None
) -> tuple[Balancer[str], Clock, dict[str, Endpoint[str]]]:
    table = HealthTable(64)
    clock = Clock()
    keep: set[int] = set()
    eps: dict[str, Endpoint[str]] = {}
    built = []
    for tier in tiers:
        row = []
        for name in tier:
            ep = Endpoint(name, name, table.slot_for(name, keep), (weights or {}).get(name, 1.0), rule or HealthRule())
            eps[name] = ep
            row.append(ep)
        built.append(row)
    return Balancer(built, table, clock, random.Random(7)), clock, eps


def test_first_tier_serves_and_a_retry_never_repicks_a_tried_endpoint() -> None:
    b, _, eps = _balancer([["a", "b"], ["c"]])
    for _ in range(50):
        first = b.pick()
        assert first.name in ("a", "b")
        second = b.pick((first,))
        assert second.name in ("a", "b") and second is not first
        assert b.pick((eps["a"], eps["b"])).name == "c"  # the next tier before a tried one
        assert b.pick((eps["a"], eps["b"], eps["c"])).name in ("a", "b")  # all tried: start over


def test_eviction_moves_traffic_to_the_next_tier_and_back_when_it_ends() -> None:
    b, clock, eps = _balancer([["primary"], ["backup"]])
    assert b.pick().name == "primary"
    assert b.report(eps["primary"], 503)
    assert b.pick().name == "backup"
    clock.now += DEFAULT_EVICTION + 0.01
    assert b.pick().name == "primary"
    assert b.table.get(eps["primary"].offset, HEALTH) == 1.0  # restored


def test_repeated_evictions_grow_and_a_success_resets_the_growth() -> None:
    b, clock, eps = _balancer([["p"], ["q"]])
    p = eps["p"]
    ends = []
    for _ in range(3):
        b.report(p, 0)  # a connect error
        start = clock.now
        while b.evicted(p):
            clock.now += 0.5
        ends.append(clock.now - start)
        b.pick()  # notices the end of the eviction
    assert ends[0] < ends[1] < ends[2]
    assert ends[1] == pytest.approx(2 * DEFAULT_EVICTION, abs=0.5)
    b.report(p, 200, latency=0.01)
    b.report(p, 500)
    start = clock.now
    while b.evicted(p):
        clock.now += 0.5
    assert clock.now - start == pytest.approx(DEFAULT_EVICTION, abs=0.5)


def test_all_evicted_falls_back_to_the_one_back_soonest_rather_than_refusing() -> None:
    b, clock, eps = _balancer([["a"], ["b"]])
    b.report(eps["b"], 503)
    clock.now += 1
    b.report(eps["a"], 503)
    assert b.pick().name == "b"  # evicted first, back first


def test_429_is_evicted_for_the_providers_reset_time() -> None:
    b, clock, eps = _balancer([["a"], ["b"]])
    b.report(eps["a"], 429, [(b"retry-after", b"20")])
    clock.now += 19
    assert b.pick().name == "b"
    clock.now += 1.1
    assert b.pick().name == "a"
    b.report(eps["a"], 429, [(b"retry-after-ms", b"1500")])
    clock.now += 1.4
    assert b.evicted(eps["a"])
    clock.now += 0.2
    assert not b.evicted(eps["a"])


def test_provider_reset_headers() -> None:
    assert provider_reset([(b"retry-after", b"7")]) == 7
    assert provider_reset([(b"retry-after-ms", b"250")]) == 0.25
    assert provider_reset([(b"x-ratelimit-reset-requests", b"6m0s"), (b"x-ratelimit-reset-tokens", b"20ms")]) == 360
    assert provider_reset([(b"x-ratelimit-reset", b"1000000030")], now_wall=1_000_000_000) == 30
    assert provider_reset([(b"retry-after", b"Wed, 21 Oct 2015 07:28:30 GMT")], now_wall=1445412500) == 10
    assert provider_reset([(b"retry-after", b"soon")]) is None
    assert provider_reset([]) is None


def test_a_health_policy_sets_what_is_unhealthy_and_how_long() -> None:
    rule = HealthRule(duration=10.0, consecutive_failures=2)
    b, clock, eps = _balancer([["a"], ["b"]], rule=rule)
    a = eps["a"]
    b.report(a, 503)
    assert not b.evicted(a)  # one failure of the two required
    b.report(a, 200)
    b.report(a, 503)
    assert not b.evicted(a)  # the success reset the count
    b.report(a, 503)
    assert b.evicted(a)
    clock.now += 9.9
    assert b.evicted(a)
    clock.now += 0.2
    assert not b.evicted(a)
    # a threshold: only once the health EWMA is low enough
    low = HealthRule(health_threshold=0.2)
    b2, _, eps2 = _balancer([["x"], ["y"]], rule=low)
    x = eps2["x"]
    n = 0
    while not b2.evicted(x):
        b2.report(x, 500)
        n += 1
    assert n > 3 and b2.table.get(x.offset, HEALTH) <= 0.2


def test_power_of_two_choices_prefers_the_faster_and_less_loaded() -> None:
    b, _, eps = _balancer([["fast", "slow", "mid"]])
    b.report(eps["fast"], 200, latency=0.05)
    b.report(eps["slow"], 200, latency=1.0)
    b.report(eps["mid"], 200, latency=0.3)
    got = Counter(b.pick().name for _ in range(3000))
    assert got["fast"] > got["mid"] > got["slow"]
    # pending requests weigh on the score
    eps["fast"].pending = 200
    got = Counter(b.pick().name for _ in range(3000))
    assert got["mid"] > got["fast"]


def test_latency_is_an_ewma() -> None:
    b, _, eps = _balancer([["a"]])
    a = eps["a"]
    b.report(a, 200, latency=1.0)
    assert b.table.get(a.offset, LATENCY) == 1.0
    b.report(a, 200, latency=0.0)
    assert b.table.get(a.offset, LATENCY) == pytest.approx(0.7)


def test_weights_are_honoured_between_equal_endpoints() -> None:
    b, _, _ = _balancer([["heavy", "light"]], weights={"heavy": 3.0, "light": 1.0})
    got = Counter(b.pick().name for _ in range(8000))
    assert got["heavy"] / got["light"] == pytest.approx(3.0, rel=0.15)


def test_equal_endpoints_share_the_load() -> None:
    b, _, _ = _balancer([["a", "b", "c"]])
    got = Counter(b.pick().name for _ in range(9000))
    assert min(got.values()) > 2500


def test_an_eviction_by_one_process_is_seen_by_another() -> None:
    b, _, eps = _balancer([["a"], ["b"]])
    pid = os.fork()
    if pid == 0:  # the child is another worker: it evicts a, then exits
        b.report(eps["a"], 503)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert b.pick().name == "b"


def test_a_reload_finds_the_same_slot_and_a_full_table_reuses_unused_ones() -> None:
    table = HealthTable(2)
    first: set[int] = set()
    a = table.slot_for("a", first)
    table.put(a, HEALTH, 0.25)
    again: set[int] = set()
    assert table.slot_for("a", again) == a and table.get(a, HEALTH) == 0.25
    table.slot_for("b", again)
    with pytest.raises(ValueError):
        table.slot_for("c", again)
    later: set[int] = set()
    c = table.slot_for("c", later)  # a and b are not in this config: a slot of theirs is reused
    assert table.get(c, HEALTH) == 1.0
