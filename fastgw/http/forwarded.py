"""X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded on proxied requests.

Each listener has a rule (`forwardedHeaders`, compiled once per route):

- `trust: false` (default): the fields a client sends (`forwarded` and every `x-forwarded-*`) are
  dropped: anyone can write them, so an upstream that reads them would believe a spoofed address.
- `trust: true`: they are kept (a proxy or load balancer the operator trusts is the only client).
- `add: true` (default): the gateway appends the client's address to `x-forwarded-for` (as Envoy's
  `use_remote_address` does) and sets `x-forwarded-proto: http` and `x-forwarded-host` (the Host
  it received), the last two only where a trusted client has not set them already.

The fields are edited on the request itself, once, after routing, so every backend kind writes
them. A request without any forwarding field (the common case, flagged by `native.request_fields`)
costs one list extend; the rest happens only when a client sent some.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastgw.http.request import Request

XFF = b"x-forwarded-for"
XFH = b"x-forwarded-host"
XFP = b"x-forwarded-proto"
#: downstream TLS is not served: every request arrives over plain HTTP
XFP_HTTP = (XFP, b"http")


@dataclass(frozen=True, slots=True)
class ForwardedRule:
    add: bool = True
    trust: bool = False

    @property
    def acts(self) -> bool:
        """False when the rule changes nothing (trusted fields, nothing added)."""
        return self.add or not self.trust

    def rewrite(self, req: Request) -> None:
        """The rule, for a request that carries forwarding fields."""
        headers = req.headers
        if not self.trust:
            kept = [pair for pair in headers if not _forwarding(pair[0])]
            if self.add:
                kept += ours(req)
            req.headers = kept
            return
        if not self.add:
            return
        prior = [value for name, value in headers if name == XFF]
        kept = [pair for pair in headers if pair[0] != XFF]
        # RFC 7239 §5.2-style order: the client's hops first, then the peer this gateway saw
        kept.append((XFF, b", ".join([*prior, req.client_ip])))
        names = {name for name, _ in headers}
        if XFP not in names:
            kept.append(XFP_HTTP)
        if XFH not in names and req.host:
            kept.append((XFH, req.host))
        req.headers = kept


def ours(req: Request) -> list[tuple[bytes, bytes]]:
    """The fields the gateway adds to a request that carries none."""
    if req.host:
        return [(XFF, req.client_ip), XFP_HTTP, (XFH, req.host)]
    return [(XFF, req.client_ip), XFP_HTTP]


def _forwarding(name: bytes) -> bool:
    return name == b"forwarded" or name.startswith(b"x-forwarded-")


DEFAULT = ForwardedRule()
