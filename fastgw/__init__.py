"""fastgw: a high-throughput AI gateway.

A request's path through the package:
  process/   the supervisor forks workers; each worker runs a uvloop event loop
  http/      the downstream wire: httptools parsing, limits, keep-alive, response writing
  routing    the compiled route table picks a route for (host, method, path, headers, query)
  pipeline   the request's life, top to bottom: policies in one order, then the backend
  policies/  one module per policy (cors, headers, rewrite, rate limits, ...)
  backends/  what a route sends traffic to: plain HTTP upstreams and LLM providers (`mcp/` is a
             placeholder: MCP backends are refused at config load until they are implemented)
  upstream/  the client side of the wire: pooled keep-alive connections to backends
  telemetry/ metrics, access and process logs, OTLP tracing, CEL telemetry fields,
             admin/readiness endpoints
  config/    schema (pure data), load (YAML + env + errors with line numbers), compile (-> Runtime)
  devtools/  the fake LLM provider and `fastgw demo`
"""

__version__ = "0.1.0"
