"""Path normalization (http/path.py) against RFC 3986's own examples, and the literal §5.2.4
algorithm on random paths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.errors import BadRequest
from fastgw.http.path import needs_normalizing, normalize_path, remove_dot_segments

# RFC 3986 §5.4.1 and §5.4.2 (normal and abnormal examples) whose reference is a relative path:
# resolved against the base "http://a/b/c/d;p?q", the target's path is remove_dot_segments of the
# base's directory ("/b/c/") merged with the reference (§5.2.2, §5.2.3)
RFC_5_4 = [
    ("g", "/b/c/g"),
    ("./g", "/b/c/g"),
    ("g/", "/b/c/g/"),
    (";x", "/b/c/;x"),
    ("g;x", "/b/c/g;x"),
    (".", "/b/c/"),
    ("./", "/b/c/"),
    ("..", "/b/"),
    ("../", "/b/"),
    ("../g", "/b/g"),
    ("../..", "/"),
    ("../../", "/"),
    ("../../g", "/g"),
    ("../../../g", "/g"),
    ("../../../../g", "/g"),
    ("g.", "/b/c/g."),
    (".g", "/b/c/.g"),
    ("g..", "/b/c/g.."),
    ("..g", "/b/c/..g"),
    ("./../g", "/b/g"),
    ("./g/.", "/b/c/g/"),
    ("g/./h", "/b/c/g/h"),
    ("g/../h", "/b/c/h"),
    ("g;x=1/./y", "/b/c/g;x=1/y"),
    ("g;x=1/../y", "/b/c/y"),
]


@pytest.mark.parametrize(("reference", "expected"), RFC_5_4, ids=[r for r, _ in RFC_5_4])
def test_rfc3986_5_4_reference_resolution(reference: str, expected: str) -> None:
    merged = ("/b/c/" + reference).encode()
    assert normalize_path(merged) == expected.encode()


def test_rfc3986_5_2_4_examples() -> None:
    # §5.2.4's two worked examples (the second's relative input made absolute: a request path is)
    assert remove_dot_segments(b"/a/b/c/./../../g") == b"/a/g"
    assert remove_dot_segments(b"/mid/content=5/../6") == b"/mid/6"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"/%61dmin", b"/admin"),  # unreserved: decoded
        (b"/%7euser/%2d%2E%5f", b"/~user/-._"),
        (b"/a%2fb", b"/a%2Fb"),  # an encoded slash is never decoded, only upper-cased
        (b"/a%5cb", b"/a%5Cb"),
        (b"/caf%c3%a9", b"/caf%C3%A9"),
        (b"/pre/%2e%2e/secret", b"/secret"),  # dot segments spelled with percent-encodings
        (b"/pre/../secret", b"/secret"),
        (b"/strip/../../x", b"/x"),
        (b"/a/./b/", b"/a/b/"),
        (b"/a//b", b"/a//b"),  # kept unless mergeSlashes
        (b"/.well-known/x", b"/.well-known/x"),
        (b"/", b"/"),
    ],
)
def test_normalization(path: bytes, expected: bytes) -> None:
    assert normalize_path(path) == expected


def test_merge_slashes_and_encoded_slash_rejection() -> None:
    assert normalize_path(b"//a///b/", merge_slashes=True) == b"/a/b/"
    assert normalize_path(b"/a//../b", merge_slashes=True) == b"/a/b"
    with pytest.raises(BadRequest):
        normalize_path(b"/a%2Fb", reject_escaped_slashes=True)
    with pytest.raises(BadRequest):
        normalize_path(b"/a%5cb", reject_escaped_slashes=True)


@pytest.mark.parametrize("path", [b"/a%", b"/a%4", b"/a%zz", b"/%g1/x"])
def test_malformed_percent_encoding_is_refused(path: bytes) -> None:
    with pytest.raises(BadRequest):
        normalize_path(path)


def _rfc_remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 §5.2.4 as written: an input buffer moved piece by piece to the output."""
    inp, out = path, b""
    while inp:
        if inp.startswith(b"../"):
            inp = inp[3:]
        elif inp.startswith((b"./", b"/./")):
            inp = inp[2:]
        elif inp == b"/.":
            inp = b"/"
        elif inp.startswith(b"/../") or inp == b"/..":
            inp = b"/" + inp[4:] if inp.startswith(b"/../") else b"/"
            out = out[: max(out.rfind(b"/"), 0)]
        elif inp in (b".", b".."):
            inp = b""
        else:
            end = inp.find(b"/", 1)
            end = len(inp) if end < 0 else end
            out, inp = out + inp[:end], inp[end:]
    return out


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bc", b".", b"..", b"", b".x", b"x."]), max_size=10))
def test_one_pass_agrees_with_the_rfc_algorithm(segments: list[bytes]) -> None:
    path = b"/" + b"/".join(segments)
    assert remove_dot_segments(path) == _rfc_remove_dot_segments(path)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=30).map(lambda b: b"/" + b))
def test_the_fast_check_never_skips_a_path_that_would_change(path: bytes) -> None:
    try:
        normalized = normalize_path(path, merge_slashes=True)
    except BadRequest:
        assert needs_normalizing(path, merge_slashes=True)
        return
    if normalized != path:
        assert needs_normalizing(path, merge_slashes=True)
