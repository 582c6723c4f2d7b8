"""Multiplexed names, cursors and the merged initialize result (pure functions)."""

from __future__ import annotations

from fastgw.backends.mcp.jsonrpc import problem
from fastgw.backends.mcp.multiplex import Names, decode_cursor, encode_cursor, merge_initialize, rename_items


def test_names_round_trip_and_the_longest_target_owns_a_name() -> None:
    names = Names(["a", "a_b", "fs"], prefix=True)
    assert names.outward("a_b", "tool") == "a_b_tool"
    assert names.inward("a_b_tool") == ("a_b", "tool")
    assert names.inward("a_tool") == ("a", "tool")
    assert names.inward("fs+file:///x", uri=True) == ("fs", "file:///x")
    assert names.inward("nobody_tool") is None
    assert Names(["a"], prefix=False).outward("a", "tool") == "tool"


def test_list_items_are_renamed_per_kind() -> None:
    names = Names(["t"], prefix=True)
    tools = rename_items("tools/list", "t", {"tools": [{"name": "echo", "x": 1}, {"bad": True}]}, names)
    assert tools == [{"name": "t_echo", "x": 1}]
    res = rename_items("resources/templates/list", "t", {"resourceTemplates": [{"uriTemplate": "m://{k}"}]}, names)
    assert res == [{"uriTemplate": "t+m://{k}"}]


def test_cursor_carries_each_targets_own_cursor() -> None:
    token = encode_cursor({"a": "c1", "b": "c2"})
    assert token is not None and decode_cursor(token) == {"a": "c1", "b": "c2"}
    assert encode_cursor({}) is None
    for bad in ("", "!!!", "e30", "WzFd"):  # not base64 JSON, {}, [1]
        assert decode_cursor(bad) in (None, {})


def test_initialize_results_merge() -> None:
    merged = merge_initialize(
        [
            ("a", {"capabilities": {"tools": {"listChanged": True}, "logging": {}}, "instructions": "use a"}),
            ("b", {"capabilities": {"prompts": {}, "resources": {"subscribe": True}}}),
        ],
        "2025-06-18",
        "1",
    )
    assert merged == {
        "protocolVersion": "2025-06-18",
        "capabilities": {
            "tools": {"listChanged": True},
            "logging": {},
            "prompts": {},
            "resources": {"subscribe": True},
        },
        "serverInfo": {"name": "fastgw", "version": "1"},
        "instructions": "a: use a",
    }


def test_jsonrpc_problems() -> None:
    assert problem({"jsonrpc": "2.0", "id": 1, "method": "ping"}) is None
    assert problem({"jsonrpc": "2.0", "method": "notifications/x"}) is None
    assert problem({"jsonrpc": "2.0", "id": 1, "result": {}}) is None
    assert problem([]) is not None
    assert problem({"jsonrpc": "1.0", "id": 1, "method": "ping"}) is not None
    assert problem({"jsonrpc": "2.0", "id": True, "method": "ping"}) is not None
    assert problem({"jsonrpc": "2.0", "id": None, "method": "ping"}) is not None
    assert problem({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}) is not None
    assert problem({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {}}) is not None
