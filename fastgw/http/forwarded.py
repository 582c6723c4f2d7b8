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

    def apply(self, req: Request) -> None:
        """Edit a routed request's fields (one list extend when the client sent none)."""
        if req.forwarded:
            self._rewrite(req)
        elif self.add:
            req.headers += ours(req)

    def _rewrite(self, req: Request) -> None:
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
        # left to right, as every proxy appends: the hops the client reported, then the peer
        kept.append((XFF, b", ".join([*prior, req.client_ip])))
        names = {name for name, _ in headers}
        if XFP not in names:
            kept.append(XFP_HTTP)
        if XFH not in names and req.host:
            kept.append((XFH, req.host))
        req.headers = kept


def ours(req: Request) -> tuple[tuple[bytes, bytes], ...]:
    """The fields the gateway adds to a request that carries none."""
    host = req.host
    return ((XFF, req.client_ip), XFP_HTTP, (XFH, host)) if host else ((XFF, req.client_ip), XFP_HTTP)


def _forwarding(name: bytes) -> bool:
    return name == b"forwarded" or name.startswith(b"x-forwarded-")


DEFAULT = ForwardedRule()
