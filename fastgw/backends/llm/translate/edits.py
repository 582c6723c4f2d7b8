"""Request body edits driven by config: model, aliases, defaults, overrides, prompts, stream usage.

All are in-place edits of a decoded body dict and return whether they changed anything, so the caller
re-encodes only when needed and otherwise forwards the original bytes. Config values are shared, not
copied: the body is encoded right after editing and nothing mutates them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastgw.errors import Dialect


def apply_model(body: dict[str, Any], model: str | None) -> bool:
    """A configured provider model replaces the client's (even ``"model": ""``); None/empty keeps it."""
    if not model or body.get("model") == model:
        return False
    body["model"] = model
    return True


class ModelAliases:
    """``modelAliases``: exact names first, then ``*`` patterns, the longest pattern winning."""

    __slots__ = ("_exact", "_patterns")

    def __init__(self, aliases: Mapping[str, str]) -> None:
        exact: dict[str, str] = {}
        patterns: list[tuple[str, str, str]] = []
        for name, target in aliases.items():
            if "*" in name:
                prefix, _, suffix = name.partition("*")
                patterns.append((prefix, suffix, target))
            else:
                exact[name] = target
        patterns.sort(key=lambda p: -(len(p[0]) + len(p[1])))
        self._exact = exact
        self._patterns = tuple(patterns)

    def resolve(self, model: str) -> str | None:
        target = self._exact.get(model)
        if target is not None:
            return target
        for prefix, suffix, target in self._patterns:
            if len(model) >= len(prefix) + len(suffix) and model.startswith(prefix) and model.endswith(suffix):
                return target
        return None

    def apply(self, body: dict[str, Any]) -> bool:
        model = body.get("model")
        target = self.resolve(model) if isinstance(model, str) else None
        if target is None or target == model:
            return False
        body["model"] = target
        return True


def apply_defaults(body: dict[str, Any], defaults: Mapping[str, Any]) -> bool:
    """Set each field only where the body lacks it (or has it null)."""
    changed = False
    for key, value in defaults.items():
        if body.get(key) is None:
            body[key] = value
            changed = True
    return changed


def apply_overrides(body: dict[str, Any], overrides: Mapping[str, Any]) -> bool:
    """Set each field unconditionally."""
    for key, value in overrides.items():
        body[key] = value
    return bool(overrides)


def apply_prompts(
    body: dict[str, Any],
    dialect: Dialect,
    prepend: Sequence[Mapping[str, Any]] = (),
    append: Sequence[Mapping[str, Any]] = (),
) -> bool:
    """``ai.prompts``: messages ``{role, content}`` added before/after the client's.

    Anthropic bodies keep system text in ``system``, so system-role entries are merged there (prepended
    ones before the client's system prompt, appended ones after) and the rest go into ``messages``.
    """
    if not prepend and not append:
        return False
    if dialect is Dialect.RESPONSES:
        # Responses: `input` is a string (one user message) or a list of items; messages are items
        given = body.get("input")
        items = [{"role": "user", "content": given}] if isinstance(given, str) else given
        existing_items = items if isinstance(items, list) else []
        body["input"] = [dict(m) for m in prepend] + existing_items + [dict(m) for m in append]
        return True
    messages = body.get("messages")
    existing = messages if isinstance(messages, list) else []
    if dialect is Dialect.OPENAI:
        body["messages"] = [dict(m) for m in prepend] + existing + [dict(m) for m in append]
        return True
    head = [dict(m) for m in prepend if m.get("role") != "system"]
    tail = [dict(m) for m in append if m.get("role") != "system"]
    body["messages"] = head + existing + tail
    before = [str(m.get("content", "")) for m in prepend if m.get("role") == "system"]
    after = [str(m.get("content", "")) for m in append if m.get("role") == "system"]
    if before or after:
        body["system"] = _merge_system(body.get("system"), before, after)
    return True


def _merge_system(system: Any, before: list[str], after: list[str]) -> Any:
    if isinstance(system, list):
        blocks = [{"type": "text", "text": t} for t in before] + system
        return blocks + [{"type": "text", "text": t} for t in after]
    current = [system] if isinstance(system, str) and system else []
    return "\n".join(before + current + after)


def client_wants_usage(body: Mapping[str, Any]) -> bool:
    """True when an OpenAI streaming request itself asked for the final usage chunk."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def force_stream_usage(body: dict[str, Any]) -> bool:
    """Ask an OpenAI upstream for stream usage so accounting has real numbers; True if changed.

    Pair with ``client_wants_usage`` (read before this) to decide whether the extra usage chunk is
    passed on; see ``usage.OpenAIStreamSniffer``.
    """
    if body.get("stream") is not True or client_wants_usage(body):
        return False
    options = body.get("stream_options")
    body["stream_options"] = (
        {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    )
    return True


def normalize_max_tokens(body: dict[str, Any]) -> bool:
    """OpenAI deprecated ``max_tokens`` for ``max_completion_tokens`` (reasoning models reject it)."""
    if "max_tokens" not in body:
        return False
    value = body.pop("max_tokens")
    body.setdefault("max_completion_tokens", value)
    return True
