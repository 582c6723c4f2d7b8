"""Request-phase policies. `ORDER` is the one ordered table: a route's policies always run in
this order, whatever order the config lists them in (the reasons are inline)."""

from __future__ import annotations

ORDER: tuple[str, ...] = (
    # CORS first: preflights need no credentials, and rejected responses still need CORS headers
    "cors",
    # authentication, then authorization (who, then what they may do), in agentgateway's order
    # (proxy/httpproxy.rs apply_request_policies): the cheap local checks before the external
    # service, and the rules last, when every identity they may read is known
    "jwtAuth",
    "basicAuth",
    "apiKey",
    "extAuthz",
    "authorization",
    # rate limits after auth, so anonymous floods are rejected before they spend tokens
    "localRateLimit",
    "remoteRateLimit",
    # CEL edits of the request (they may read what authentication found), before the static ones
    "transformations",
    # request edits, then the responses that replace forwarding
    "urlRewrite",
    "requestRedirect",
    "directResponse",
)
