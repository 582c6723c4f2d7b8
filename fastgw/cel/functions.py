"""agentgateway's CEL functions that the engine lacks (schema/cel-functions.md there), as plain
Python callables registered with the engine. A method call `x.f(a)` is `f(x, a)` to the engine.

`default(expr, fallback)` is a macro in agentgateway (an error or a missing key in `expr` yields
`fallback`); fastgw's evaluator treats it so, and this eager version only serves expressions the
evaluator leaves whole to the engine.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random as _random
import re
import urllib.parse
import uuid as _uuid
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import orjson
from cel import stdlib


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError("expected string or bytes")


def json_(value: Any) -> Any:
    """Parse JSON text or bytes (e.g. `json(request.body).model`)."""
    return orjson.loads(value if isinstance(value, bytes | str) else _text(value))


def to_json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def base64_encode(value: Any) -> str:
    data = value.encode() if isinstance(value, str) else bytes(value)
    return base64.b64encode(data).decode("ascii")


def base64_decode(value: Any) -> bytes:
    return base64.b64decode(_text(value), validate=True)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regex_replace(value: str, pattern: str, replacement: str) -> str:
    """Replace every match of `pattern` (`$1`-style group references, as Rust's regex)."""
    repl = re.sub(r"\$(\d+|\{\w+\})", lambda m: "\\g<" + m.group(1).strip("{}") + ">", replacement)
    return _regex(pattern).sub(repl, value)


def default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


@lru_cache(maxsize=256)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


def cidr(text: str) -> str:
    """`cidr("10.0.0.0/8")`: checked, and kept as its text (`containsIP` reads it)."""
    _network(text)
    return text


def contains_ip(network: str, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    net = _network(network)
    if ip.version != net.version and isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip in net


def ip(text: str) -> str:
    return str(ipaddress.ip_address(text.strip("[]")))


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _digest(name: str) -> Callable[[Any], str]:
    def encode(value: Any) -> str:
        data = value.encode() if isinstance(value, str) else bytes(value)
        return hashlib.new(name, data).hexdigest()

    return encode


def url_encode(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def url_decode(value: str) -> str:
    return urllib.parse.unquote(value)


def random() -> float:
    return _random.random()


def uuid() -> str:
    return str(_uuid.uuid4())


FUNCTIONS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "json": json_,
        "toJson": to_json,
        "base64.encode": base64_encode,
        "base64.decode": base64_decode,
        "regexReplace": regex_replace,
        "default": default,
        "cidr": cidr,
        "containsIP": contains_ip,
        "ip": ip,
        "isIP": is_ip,
        "sha1.encode": _digest("sha1"),
        "sha256.encode": _digest("sha256"),
        "md5.encode": _digest("md5"),
        "url.encode": url_encode,
        "url.decode": url_decode,
        "random": random,
        "uuid": uuid,
        # cel-go's strings library, as the engine's Python extension provides it
        "charAt": stdlib.char_at,
        "indexOf": stdlib.index_of,
        "lastIndexOf": stdlib.last_index_of,
        "substring": stdlib.substring,
        "replace": stdlib.replace,
        "split": stdlib.split,
        "join": stdlib.join,
        "lowerAscii": stdlib.lower_ascii,
        "upperAscii": stdlib.upper_ascii,
        "trim": stdlib.trim,
    }
)
