"""Request-phase policies. `REGISTRY` is the one ordered table of them: a route's policies always
run in this order, whatever order the config lists them in (the reasons are inline). Adding a
policy is adding its module (a `KIND`, see `policies/kind.py`) and one line here."""

from __future__ import annotations

from typing import Any, Final

from fastgw.policies import (
    api_key,
    authorization,
    basic_auth,
    cors,
    direct,
    ext_authz,
    jwt_auth,
    ratelimit_local,
    ratelimit_remote,
    rewrite,
    transformations,
)
from fastgw.policies.kind import PolicyKind

REGISTRY: Final[tuple[PolicyKind[Any], ...]] = (
    # CORS first: preflights need no credentials, and rejected responses still need CORS headers
    cors.KIND,
    # authentication, then authorization (who, then what they may do), in agentgateway's order
    # (proxy/httpproxy.rs apply_request_policies): the cheap local checks before the external
    # service, and the rules last, when every identity they may read is known
    jwt_auth.KIND,
    basic_auth.KIND,
    api_key.KIND,
    ext_authz.KIND,
    authorization.KIND,
    # rate limits after auth, so anonymous floods are rejected before they spend tokens
    # (a remote rate limit goes after the local one: the local check is cheaper)
    ratelimit_local.KIND,
    ratelimit_remote.KIND,
    # CEL edits of the request (they may read what authentication found), before the static ones
    transformations.KIND,
    # request edits, then the responses that replace forwarding
    rewrite.KIND,
    direct.KIND,
)
