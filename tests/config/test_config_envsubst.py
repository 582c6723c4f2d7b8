"""Environment expansion over raw config text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.config.envsubst import expand

ENV = {"A": "alpha", "EMPTY": "", "MULTI": "x\ny"}


def test_forms() -> None:
    text = "a: $A\nb: ${A}\nc: ${MISSING:-dflt}\nd: ${EMPTY:-dflt}\ne: ${EMPTY-dflt}\nf: $$A\ng: ^v1$\n"
    result = expand(text, ENV)
    assert result.problems == []
    assert result.text == "a: alpha\nb: alpha\nc: dflt\nd: dflt\ne: \nf: $A\ng: ^v1$\n"


def test_unset_without_default_names_variable_and_line() -> None:
    result = expand("x: 1\ny: $NOPE and ${ALSO_NOPE}\n", ENV)
    assert [(p.line, p.message.split(" is not set")[0]) for p in result.problems] == [
        (2, "environment variable NOPE"),
        (2, "environment variable ALSO_NOPE"),
    ]


def test_malformed_references() -> None:
    result = expand("a: ${A B}\nb: ${\n", ENV)
    assert [p.line for p in result.problems] == [1, 2]
    assert "invalid variable reference" in result.problems[0].message
    assert "unterminated" in result.problems[1].message


def test_comment_lines_and_schema_hint_untouched() -> None:
    text = "# yaml-language-server: $schema=https://x/schema.json\n  # old: $REMOVED_KEY\nk: $A # $A\n"
    result = expand(text, ENV)
    assert result.problems == []
    assert (
        result.text
        == "# yaml-language-server: $schema=https://x/schema.json\n  # old: $REMOVED_KEY\nk: alpha # alpha\n"
    )


def test_lines_survive_multiline_values_and_spans_mark_env_text() -> None:
    result = expand("a: $MULTI\nb: $A\n", ENV)
    assert result.text == "a: x\ny\nb: alpha\n"
    b_offset = result.text.index("b:")
    assert result.line_of(b_offset) == 2
    assert result.line_of(result.text.index("y")) == 1
    start = result.text.index("alpha")
    assert result.is_secret(start, start + 5)
    assert not result.is_secret(b_offset, b_offset + 2)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("$ {}:-_aZ9\n#\t\"'")) | st.characters(), max_size=200),
    env=st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True), st.text(max_size=10), max_size=4),
)
def test_never_crashes_and_maps_every_offset(text: str, env: dict[str, str]) -> None:
    result = expand(text, env)
    lines = max(1, len(text.splitlines()))
    for offset in range(len(result.text) + 1):
        assert 1 <= result.line_of(offset) <= lines
    for problem in result.problems:
        assert 1 <= problem.line <= lines
    for start, end in result.secret_spans:
        assert 0 <= start < end <= len(result.text)
    if "$" not in text:
        assert result.text == text
