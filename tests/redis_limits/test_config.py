"""remoteRateLimit's `redis:` form: the issue's example compiles as written; mistakes are errors
with file:line and key path."""

from __future__ import annotations

import pytest

from fastgw.config.compile import load_runtime
from fastgw.config.errors import ConfigError
from fastgw.policies.ratelimit_remote import RemoteRateLimit

E = "entries: [{key: u, value: 'true'}]"
W = "window: {limit: 1, size: 1s}"
ROUTE = "binds[0].listeners[0].routes[0].policies.remoteRateLimit"


def _config(rrl: str) -> str:
    return (
        "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends: [{host: '127.0.0.1:1'}]\n"
        "      policies:\n        remoteRateLimit:\n" + "\n".join("          " + ln for ln in rrl.splitlines()) + "\n"
    )


ISSUE_EXAMPLE = """\
redis: {url: "redis://127.0.0.1:6379/0"}
failureMode: failClosed            # or failOpen
descriptors:
- entries: [{key: user, value: 'request.headers["x-user"]'}]
  type: requests                   # or tokens
  limit: {maxTokens: 50, tokensPerFill: 1, fillInterval: 100s}   # a token bucket, as localRateLimit
"""


def test_the_issue_example_compiles() -> None:
    rt = load_runtime("c.yaml", _config(ISSUE_EXAMPLE))
    policy = rt.binds[0].routes.listeners[0].entries[0].route.policies[0]
    assert isinstance(policy, RemoteRateLimit)
    (d,) = policy.descriptors
    assert d.params == (50, 1, 100_000) and d.limit == 50 and not d.tokens
    assert policy.redis.command_timeout == 0.05 and not policy.fail_open
    # the URL is a secret: never in the dump
    assert "6379" not in str(rt.dump)


@pytest.mark.parametrize(
    ("rrl", "where"),
    [
        (
            f"redis: {{url: 'http://x'}}\ndescriptors: [{{{E}, {W}}}]",
            "redis.url",
        ),
        ("redis: {url: 'redis://x:1'}\ndescriptors: [{entries: [{key: u, value: 'true'}]}]", "descriptors[0]"),
        (
            f"redis: {{url: 'redis://x:1'}}\ndescriptors: [{{entries: [{{key: u, value: '1 +'}}], {W}}}]",
            "descriptors[0].entries[0].value",
        ),
        (
            "redis: {url: 'redis://x:1'}\n"
            f"descriptors: [{{{E}, limit: {{maxTokens: 1, tokensPerFill: 2, fillInterval: 1s}}}}]",
            "descriptors[0].limit.tokensPerFill",
        ),
        (
            "redis: {url: 'redis://x:1'}\ndescriptors: [{entries: [{key: u, value: 'true'}], type: tokens,"
            " window: {limit: 1, size: 1s}, lease: {size: 10}}]",
            "descriptors[0].lease",
        ),
        ("domain: d\ndescriptors: [{entries: [{key: u, value: 'true'}], window: {limit: 1, size: 1s}}]", ""),
    ],
)
def test_mistakes_name_the_key(rrl: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_runtime("c.yaml", _config(rrl))
    text = str(info.value)
    assert "c.yaml:" in text and f"{ROUTE}{'.' if where else ''}{where}" in text, text
