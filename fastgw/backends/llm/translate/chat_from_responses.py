"""Responses API client in front of a Chat Completions provider: the request.

``request`` turns a Responses body (``input`` items, ``instructions``, function tools,
``tool_choice``, ``text.format``, ``reasoning.effort``, ``max_output_tokens``) into a chat
completions body; the answer comes back through ``responses_from_chat`` (and its stream). It is
also the first half of ``messages_from_responses``.

What the target cannot do is refused with a clear 400 (``InvalidRequestBody``), never half done:
built-in tools (web search, file search, computer use, ...) need OpenAI to run them, and state the
gateway does not keep (``previous_response_id``, ``conversation``, ``item_reference``,
``background``) needs a provider that stores responses. Reasoning items of earlier turns are
dropped: chat has no input for them.
"""

from __future__ import annotations

from typing import Any, Final

from fastgw.backends.llm.translate.errors import MALFORMED, InvalidRequestBody

# A `namespace` tool (a group of function tools, e.g. one MCP server's) becomes its functions, each
# named `<namespace>__<name>` (chat and Anthropic names allow only [a-zA-Z0-9_-]); the answer's
# calls are split back (`split_tool_name`) against the namespaces the request declared.
NAMESPACE_SEPARATOR: Final = "__"
# request fields a gateway cannot honour without storing responses itself
_STATEFUL: Final = ("previous_response_id", "conversation")
_TOOL_CHOICES: Final = frozenset({"auto", "none", "required"})
_TEXT_PARTS: Final = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


def request(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completions body for a Responses body; ``body`` is not modified.

    Raises InvalidRequestBody for a body that is not a Responses request, and for what a
    provider without the Responses API cannot serve.
    """
    try:
        return _request(body)
    except InvalidRequestBody:
        raise
    except MALFORMED as exc:
        raise InvalidRequestBody(f"malformed responses request: {exc}") from None


def _request(body: dict[str, Any]) -> dict[str, Any]:
    get = body.get
    for key in _STATEFUL:
        if get(key) is not None:
            raise InvalidRequestBody(
                f"{key} needs a provider that stores responses (the OpenAI Responses API); this route's "
                "provider does not have it: send the whole conversation in `input` instead"
            )
    if get("background") is True:
        raise InvalidRequestBody("background responses need a provider with the OpenAI Responses API")
    messages: list[dict[str, Any]] = []
    instructions = get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    _input(get("input"), messages)
    out: dict[str, Any] = {"model": get("model") or "", "messages": messages}
    max_tokens = get("max_output_tokens")
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    for key in ("temperature", "top_p", "parallel_tool_calls", "user", "top_logprobs"):
        value = get(key)
        if value is not None:
            out[key] = value
    tools = [function for tool in get("tools") or () for function in _tools(tool)]
    if tools:
        out["tools"] = tools
    choice = _tool_choice(get("tool_choice"))
    if choice is not None:
        out["tool_choice"] = choice
    _text_format(get("text"), out)
    reasoning = get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        out["reasoning_effort"] = reasoning["effort"]
    if get("stream") is True:
        out["stream"] = True
        # the answer's usage: Responses always reports it, chat only when asked
        out["stream_options"] = {"include_usage": True}
    return out


def _input(given: Any, messages: list[dict[str, Any]]) -> None:
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
        return
    for item in given or ():
        kind = item.get("type", "message")
        if kind == "message":
            _message(item, messages)
        elif kind == "function_call":
            name = _qualified(item.get("namespace"), item.get("name") or "")
            call = {
                "id": item.get("call_id") or item.get("id") or "",
                "type": "function",
                "function": {"name": name, "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            # parallel calls (and the text before them) are one assistant turn in chat
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id") or "",
                    "content": output if isinstance(output, str) else _joined(output),
                }
            )
        elif kind == "reasoning":
            continue  # chat takes no reasoning input; the provider reasons afresh
        elif kind == "item_reference":
            raise InvalidRequestBody(
                "item_reference needs a provider that stores responses; send the referenced item itself"
            )
        else:
            raise InvalidRequestBody(f"input items of type {kind!r} are not supported by this route's provider")


def _message(item: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    role = item.get("role")
    content = item.get("content")
    if role not in ("user", "assistant", "system", "developer"):
        raise InvalidRequestBody(f"unknown message role {role!r}")
    if isinstance(content, str):
        messages.append({"role": role, "content": content})
        return
    if role != "user":
        # assistant, system and developer turns as one string: what every chat server accepts
        messages.append({"role": role, "content": _joined(content)})
        return
    parts: list[dict[str, Any]] = []
    for part in content or ():
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise InvalidRequestBody("input_image needs an image_url (file_id needs the OpenAI Responses API)")
            image: dict[str, Any] = {"url": url}
            if isinstance(part.get("detail"), str):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file = {k: part[k] for k in ("file_data", "file_id", "filename") if isinstance(part.get(k), str)}
            parts.append({"type": "file", "file": file})
        else:
            raise InvalidRequestBody(f"content parts of type {kind!r} are not supported by this route's provider")
    messages.append({"role": "user", "content": parts})


def _joined(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or p.get("refusal") or "" for p in content or () if isinstance(p, dict))


def tool_namespaces(body: dict[str, Any]) -> frozenset[str]:
    """The namespaces a Responses request's tools declare (what ``split_tool_name`` splits by)."""
    tools = body.get("tools")
    return frozenset(
        t["name"]
        for t in (tools if isinstance(tools, list) else ())
        if isinstance(t, dict) and t.get("type") == "namespace" and isinstance(t.get("name"), str)
    )


def split_tool_name(name: str, namespaces: frozenset[str]) -> tuple[str | None, str]:
    """(namespace, name) of a flattened tool name; (None, name) when it is no declared namespace's."""
    if namespaces and NAMESPACE_SEPARATOR in name:
        namespace, _, rest = name.partition(NAMESPACE_SEPARATOR)
        if namespace in namespaces and rest:
            return namespace, rest
    return None, name


def _qualified(namespace: Any, name: str) -> str:
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if isinstance(namespace, str) and namespace else name


def _tools(tool: dict[str, Any]) -> list[dict[str, Any]]:
    if tool.get("type") != "namespace":
        return [_tool(tool)]
    namespace = tool.get("name") or ""
    functions = [_tool(inner) for inner in tool.get("tools") or ()]
    for function in functions:
        function["function"]["name"] = _qualified(namespace, function["function"]["name"])
    return functions


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    kind = tool.get("type")
    if kind != "function":
        raise InvalidRequestBody(
            f"tools of type {kind!r} run at OpenAI and are not supported by this route's provider; "
            'only function tools are (Codex: web_search = "disabled" in config.toml)'
        )
    function: dict[str, Any] = {"name": tool.get("name") or ""}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": _qualified(choice.get("namespace"), choice["name"])}}
    raise InvalidRequestBody(f"tool_choice {choice!r} is not supported by this route's provider")


def _text_format(text: Any, out: dict[str, Any]) -> None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return
    kind = fmt.get("type")
    if kind == "json_schema":
        schema: dict[str, Any] = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {}}
        if fmt.get("strict") is not None:
            schema["strict"] = fmt["strict"]
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif kind == "json_object":
        out["response_format"] = {"type": "json_object"}
