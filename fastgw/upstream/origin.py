"""Where an upstream connection goes (pure data: the pool keys its connections by it, the
connection and the backends read it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes. Two requests share connections only if their Origin is equal."""

    host: str
    port: int
    tls: bool = False
    sni: str | None = None
    verify: bool = True  # check the certificate chain
    verify_host: bool = True  # check the certificate's name
    ca: str | None = None  # a CA bundle file instead of the system roots
    cert: str | None = None  # client certificate (mTLS)
    key: str | None = None
    _hash: int = field(init=False, repr=False, compare=False, default=0)
    #: "host[:port]" (the port only when it is not the scheme's default)
    authority: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        # pool lookups hash the origin on every request, logs and metrics name it: compute once
        fields = (self.host, self.port, self.tls, self.sni, self.verify, self.verify_host, self.ca, self.cert, self.key)
        object.__setattr__(self, "_hash", hash(fields))
        default = 443 if self.tls else 80
        h = f"[{self.host}]" if ":" in self.host else self.host
        object.__setattr__(self, "authority", h if self.port == default else f"{h}:{self.port}")

    def __hash__(self) -> int:
        return self._hash
