"""native/http.c and its twin: head splitting, head writing, the access-log line; both must agree."""

from __future__ import annotations

import time
from types import ModuleType

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw import native

NATIVE = native.implementation("native")
TWIN = native.implementation("python")

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 00:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"
)


def test_head_fields_splits_a_response(impl: ModuleType) -> None:
    fields, end, length, connection, ctype = impl.head_fields(RESPONSE, 0)
    assert ctype == b"application/json"
    assert fields == [
        (b"server", b"nginx/1.22.1"),
        (b"date", b"Thu, 26 Nov 2026 00:00:00 GMT"),
        (b"content-type", b"application/json"),
        (b"content-length", b"3"),
        (b"connection", b"keep-alive"),
    ]
    assert RESPONSE[end:] == b"abc"
    assert (length, connection) == (3, b"keep-alive")


def test_head_fields_after_an_interim_head(impl: ModuleType) -> None:
    raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + RESPONSE
    first, end, length, connection, ctype = impl.head_fields(raw, 0)
    assert first == [(b"link", b"</a>")] and (length, connection, ctype) == (-1, None, b"")
    second, end2, _, _, _ = impl.head_fields(raw, end)
    assert second[0] == (b"server", b"nginx/1.22.1")
    assert raw[end2:] == b"abc"


def test_head_fields_blanks_bare_lf_and_obs_fold(impl: ModuleType) -> None:
    raw = b"HTTP/1.1 200 OK\nX-A:\t  spaced value \t\nX-B: one\n  two\n\tthree\nX-Empty:\nnot a field\n\nrest"
    fields, end, length, _, _ = impl.head_fields(raw, 0)
    assert fields == [(b"x-a", b"spaced value"), (b"x-b", b"one two three"), (b"x-empty", b"")]
    assert raw[end:] == b"rest" and length == -1


@pytest.mark.parametrize(
    ("fields", "length"),
    [
        (b"Content-Length: 12\r\n", 12),
        (b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", -2),
        (b"transfer-encoding: gzip, chunked\r\n", -2),
        (b"Content-Length: 1x\r\n", -1),
        (b"Content-Length: 9999999999999999999\r\n", -1),
        (b"Content-Length: 0\r\n", 0),
    ],
)
def test_head_fields_framing(impl: ModuleType, fields: bytes, length: int) -> None:
    assert impl.head_fields(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n", 0)[2] == length


@pytest.mark.parametrize("raw", [b"", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK\r\nA: b\r\n", b"HTTP/1.1 200 OK\r\n\r"])
def test_head_fields_refuses_an_incomplete_head(impl: ModuleType, raw: bytes) -> None:
    with pytest.raises(ValueError, match="incomplete"):
        impl.head_fields(raw, 0)


def test_request_head_and_field_lines(impl: ModuleType) -> None:
    fields = [(b"host", b"up:80"), (b"connection", b"close"), (b"x-a", b"1")]
    assert impl.request_head(b"POST", b"/v1?q=1", fields, frozenset({b"connection"})) == (
        b"POST /v1?q=1 HTTP/1.1\r\nhost: up:80\r\nx-a: 1\r\n\r\n"
    )
    assert impl.request_head(b"GET", b"/", [], None) == b"GET / HTTP/1.1\r\n\r\n"
    assert impl.field_lines(fields, {b"x-a", b"host"}) == b"connection: close\r\n"
    assert impl.field_lines(fields, None) == b"host: up:80\r\nconnection: close\r\nx-a: 1\r\n"


@pytest.mark.parametrize(
    ("length", "tail"),
    [
        (12, b"content-length: 12\r\n"),
        (0, b"content-length: 0\r\n"),
        (-1, b""),
        (-2, b"transfer-encoding: chunked\r\n"),
    ],
)
def test_proxy_request_head(impl: ModuleType, length: int, tail: bytes) -> None:
    fields = [(b"host", b"client"), (b"content-length", b"3"), (b"x-a", b"1")]
    skip = frozenset({b"host", b"content-length"})
    head = impl.proxy_request_head(b"POST", b"/a", b"up:80", fields, skip, b"", [], length, [])
    assert head == b"POST /a HTTP/1.1\r\nhost: up:80\r\nx-a: 1\r\n" + tail + b"\r\n"


def test_proxy_request_head_prefix_and_extra_fields(impl: ModuleType) -> None:
    fields = [(b"anthropic-beta", b"x"), (b"authorization", b"client"), (b"x-a", b"1"), (b"anthropic", b"y")]
    extra = [(b"authorization", b"Bearer provider")]
    head = impl.proxy_request_head(b"POST", b"/v1", b"h", fields, {b"authorization"}, b"anthropic-", extra, 5, [])
    assert head == (
        b"POST /v1 HTTP/1.1\r\nhost: h\r\nx-a: 1\r\nanthropic: y\r\n"
        b"authorization: Bearer provider\r\ncontent-length: 5\r\n\r\n"
    )


def test_proxy_request_head_defaults_unless_written(impl: ModuleType) -> None:
    defaults = [(b"anthropic-version", b"2023-06-01"), (b"x-default", b"d"), (b"authorization", b"no")]
    extra = [(b"authorization", b"Bearer provider")]
    # the client's own anthropic-version is kept and wins; x-default is added
    fields = [(b"anthropic-version", b"2024-01-01")]
    head = impl.proxy_request_head(b"POST", b"/v1", b"h", fields, None, b"", extra, 0, defaults)
    assert head == (
        b"POST /v1 HTTP/1.1\r\nhost: h\r\nanthropic-version: 2024-01-01\r\n"
        b"authorization: Bearer provider\r\nx-default: d\r\ncontent-length: 0\r\n\r\n"
    )
    # a client field that is not forwarded (skipped, or by prefix) does not stop the default
    for skip, prefix in (({b"anthropic-version"}, b""), (None, b"anthropic-")):
        head = impl.proxy_request_head(b"POST", b"/v1", b"h", fields, skip, prefix, extra, -1, defaults)
        assert b"anthropic-version: 2023-06-01\r\n" in head and b"2024-01-01" not in head


def test_head_writers_refuse_bad_fields() -> None:
    with pytest.raises(TypeError):
        NATIVE.field_lines([(b"a", "str")], None)
    with pytest.raises(TypeError):
        NATIVE.request_head(b"GET", b"/", [(b"a", b"b")], [b"a"])


def test_access_line(impl: ModuleType) -> None:
    now = 1_764_115_013.25
    line = impl.access_line(
        now, b"gateway=bind/3000", b"up:80", b"1.2.3.4:5", b"GET", b"example.com", b"/a", True, 200, b"", 12
    )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(now)))
    assert (
        line
        == (
            f"{stamp}.250000Z\tinfo\trequest gateway=bind/3000 endpoint=up:80 src.addr=1.2.3.4:5 http.method=GET "
            "http.host=example.com http.path=/a http.version=HTTP/1.1 http.status=200 duration=12ms\n"
        ).encode()
    )
    quoted = impl.access_line(now, b"gateway=g", b"", b"c", b"GET", b"", b'/a="b"\\', False, 404, b" x=1", 0)
    assert b" endpoint=" not in quoted
    assert (
        b' http.host="" http.path="/a=\\"b\\"\\\\" http.version=HTTP/1.0 http.status=404 x=1 duration=0ms\n' in quoted
    )


_field_name = st.binary(min_size=1, max_size=12).filter(lambda b: b":" not in b and b"\n" not in b and b"\r" not in b)
_field_value = st.binary(max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_field_name.filter(lambda b: b[:1] not in (b" ", b"\t")), _field_value), max_size=8),
    st.sampled_from([b"\r\n", b"\n"]),
    st.binary(max_size=10),
)
def test_head_fields_agree(fields: list[tuple[bytes, bytes]], eol: bytes, rest: bytes) -> None:
    raw = b"HTTP/1.1 200 OK" + eol + b"".join(n + b":" + v + eol for n, v in fields) + eol + rest
    assert NATIVE.head_fields(raw, 0) == TWIN.head_fields(raw, 0)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(min_value=0, max_value=2.5e11, allow_nan=False),  # to the year 9892
    st.binary(max_size=30),
    st.binary(max_size=30),
    st.booleans(),
    st.integers(min_value=100, max_value=599),
    st.binary(max_size=10),
    st.integers(min_value=0, max_value=10**9),
)
def test_access_line_agrees(
    now: float, host: bytes, path: bytes, http11: bool, status: int, tail: bytes, ms: int
) -> None:
    args = (now, b"gateway=g", b"e:1", b"c:2", b"POST", host, path, http11, status, tail, ms)
    assert NATIVE.access_line(*args) == TWIN.access_line(*args)


def test_head_fields_match_what_httptools_reports() -> None:
    """On heads httptools accepts, the split equals its own callbacks (names lowercased)."""

    class Sink:
        def __init__(self) -> None:
            self.fields: list[tuple[bytes, bytes]] = []

        def on_header(self, name: bytes, value: bytes) -> None:
            self.fields.append((name.lower(), value))

    raw = RESPONSE.replace(b"Server: nginx/1.22.1", b"Server:   nginx/1.22.1  ")
    sink = Sink()
    httptools.HttpResponseParser(sink).feed_data(raw)
    assert NATIVE.head_fields(raw, 0)[0] == [(n, v.strip(b" \t")) for n, v in sink.fields]


def test_log_fields(impl: ModuleType) -> None:
    fields = {"protocol": "llm", "model": "gpt 4", "n": 12, "empty": "", "q": 'a"b\\c\nd=', "u": "café", "b": True}
    assert impl.log_fields(fields) == (
        ' protocol=llm model="gpt 4" n=12 empty="" q="a\\"b\\\\c\\nd=" u=café b=True'.encode()
    )
    assert impl.log_fields({}) == b""


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.text(max_size=12), st.integers(), st.booleans())))
def test_log_fields_agree(fields: dict[str, object]) -> None:
    assert NATIVE.log_fields(fields) == TWIN.log_fields(fields)


def test_request_fields_normalizes_in_place(impl: ModuleType) -> None:
    fields = [
        (b"Host", b"example.com"),
        (b"X-Pad", b"v \t"),
        (b"Connection", b"keep-alive"),
        (b"connection", b"x-hop"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Expect", b"100-continue"),
        (b"content-length", b"12"),
    ]
    problem, host, length, te, connection, expect, forwarded = impl.request_fields(fields, 1000, 10)
    assert (problem, host, length, te, connection, expect, forwarded) == (
        0,
        b"example.com",
        12,
        b"chunked",
        b"keep-alive, x-hop",
        b"100-continue",
        False,
    )
    assert fields[:2] == [(b"host", b"example.com"), (b"x-pad", b"v")]
    assert fields[3] == (b"connection", b"x-hop")


@pytest.mark.parametrize(
    ("fields", "max_bytes", "max_count", "problem"),
    [
        ([(b"a", b"x" * 10)], 15, 10, 0),
        ([(b"a", b"x" * 10)], 14, 10, 1),
        ([(b"a", b"1")] * 3, 100, 2, 2),
        ([(b"a", b"1")] * 3, 100, 3, 0),
        ([(b"Host", b"a"), (b"host", b"b")], 100, 10, 3),
        ([(b"Host", b"a"), (b"x", b"y" * 100), (b"host", b"b")], 50, 10, 1),
    ],
)
def test_request_fields_limits(
    impl: ModuleType, fields: list[tuple[bytes, bytes]], max_bytes: int, max_count: int, problem: int
) -> None:
    assert impl.request_fields(list(fields), max_bytes, max_count)[0] == problem


def test_request_fields_first_host_and_no_fields(impl: ModuleType) -> None:
    assert impl.request_fields([(b"HOST", b"a"), (b"Host", b"b")], 100, 10)[:2] == (3, b"a")
    assert impl.request_fields([], 100, 10) == (0, None, -1, None, None, None, False)


@pytest.mark.parametrize(
    "host",
    [
        b"a.example",
        b"A.Example:8080",
        b"1.2.3.4",
        b"[::1]",
        b"[2001:db8::1]:443",
        b"a:",
        b"a:65535",
        b"x%41y",
        b"a!$&'()*+,;=b",
    ],
)
def test_request_fields_accepts_uri_hosts(impl: ModuleType, host: bytes) -> None:
    assert impl.request_fields([(b"Host", host)], 1000, 10)[:2] == (0, host)


@pytest.mark.parametrize(
    "host",
    [
        b"",
        b"a b.example",
        b"user@evil.example:81",
        b":80",
        b"a:65536",
        b"a:8o",
        b"a:000080",
        b"a:1:2",
        b"a/b",
        b"a%4",
        b"a%zz",
        b"[::1",
        b"[]",
        b"[1.2.3.4]",
        b"[::1]x",
        b"[::g]",
        b"\xc3\xa9.example",
    ],
)
def test_request_fields_refuses_a_malformed_host(impl: ModuleType, host: bytes) -> None:
    """RFC 9110 §7.2 / RFC 3986 §3.2.2: uri-host [":" port], never forwarded otherwise."""
    assert impl.request_fields([(b"Host", host)], 1000, 10)[0] == 4


@pytest.mark.parametrize(
    ("name", "flagged"),
    [(b"X-Forwarded-For", True), (b"x-forwarded-host", True), (b"Forwarded", True), (b"x-forwarded", False)],
)
def test_request_fields_flags_forwarding_fields(impl: ModuleType, name: bytes, flagged: bool) -> None:
    assert impl.request_fields([(name, b"1.2.3.4")], 1000, 10)[6] is flagged


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(
                _field_name,
                st.sampled_from([b"Host", b"CONNECTION", b"expect", b"Transfer-Encoding", b"X-Forwarded-For"]),
            ),
            st.one_of(_field_value, st.from_regex(rb"\A\[?[a-f0-9:.%@\[\]]{0,8}(:[0-9]{0,6})?\Z")),
        ),
        max_size=10,
    ),
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=12),
)
def test_request_fields_agree(fields: list[tuple[bytes, bytes]], max_bytes: int, max_count: int) -> None:
    a, b = list(fields), list(fields)
    assert NATIVE.request_fields(a, max_bytes, max_count) == TWIN.request_fields(b, max_bytes, max_count)
    assert a == b


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c", b"x-d"]), _field_value), max_size=5),
    st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c"]), _field_value), max_size=3),
    st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c", b"x-e"]), _field_value), max_size=4),
    st.sampled_from([None, frozenset({b"a"}), frozenset({b"b", b"c"})]),
    st.sampled_from([b"", b"x-"]),
)
def test_proxy_request_head_agrees(
    fields: list[tuple[bytes, bytes]],
    extra: list[tuple[bytes, bytes]],
    defaults: list[tuple[bytes, bytes]],
    skip: frozenset[bytes] | None,
    prefix: bytes,
) -> None:
    args = (b"POST", b"/p", b"h", fields, skip, prefix, extra, 3, defaults)
    assert NATIVE.proxy_request_head(*args) == TWIN.proxy_request_head(*args)
