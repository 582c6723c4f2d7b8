"""The bundled fake LLM provider: a real HTTP server speaking the OpenAI chat completions and Anthropic
messages wire formats, for the demo, the tests and bench/.

Endpoints: POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens,
POST /v1/embeddings, GET /v1/models[/{id}] (Anthropic shape when `anthropic-version` is sent);
control: GET /_fake/health, GET|DELETE /_fake/requests (the recorded requests, newest last),
POST /_fake/fail-next {"status": 503, "count": N} (fail the next N provider requests).

Per-request control headers: `x-fake-status: 503`, `x-fake-token-latency-ms`, `x-fake-ttft-ms`,
`x-fake-tokens: N`, `x-fake-fail-after-tokens: N` (close the connection after N tokens; a JSON
answer is cut in the middle of its body), `x-fake-no-usage: 1`, `x-fake-retry-after: S` (sent
with injected errors). The token rule is in fake_answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import click
import orjson
import uvloop
from aiohttp import web

from fastgw.devtools import fake_anthropic, fake_openai, fake_responses
from fastgw.devtools.fake_control import (
    STATE_KEY,
    Control,
    ControlError,
    Dialect,
    FakeOptions,
    FakeState,
    RecordedRequest,
    error_response,
    parse_duration,
    set_control,
    state_of,
)

__all__ = ["FakeOptions", "ListenError", "build_app", "command", "main", "parse_duration", "run"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CONTROL_PREFIX = "/_fake/"


def _dialect(request: web.Request) -> Dialect:
    if request.path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return "anthropic"
    return "openai"


def _authorized(request: web.Request, dialect: Dialect, key: str) -> bool:
    # Anthropic takes `x-api-key` and (as its current SDKs send it) `Authorization: Bearer`; OpenAI
    # only the latter. A gateway test that must see the key moved asserts on the recorded headers.
    if dialect == "anthropic" and request.headers.get("x-api-key") == key:
        return True
    return request.headers.get("authorization") == f"Bearer {key}"


@web.middleware
async def _front(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record, then apply the control headers, auth and error injection in that order: a forced
    status wins over everything so a test can always provoke it."""
    if request.path.startswith(_CONTROL_PREFIX):
        return await handler(request)
    state = state_of(request)
    body = await request.read()
    state.recorder.add(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=tuple(request.headers.items()),
            body=body,
            received_at=time.time(),
        )
    )
    dialect = _dialect(request)
    try:
        control = Control.from_headers(request.headers, state.options)
    except ControlError as exc:
        return error_response(dialect, 400, str(exc))
    retry_after = request.headers.get("x-fake-retry-after")
    if control.status is not None:
        message = f"injected failure (x-fake-status: {control.status})"
        return error_response(dialect, control.status, message, retry_after=retry_after)
    if state.queued_failures:
        # Queued by POST /_fake/fail-next: lets a retry/failover test fail the first N attempts of
        # requests whose headers the gateway replays unchanged.
        status = state.queued_failures.popleft()
        return error_response(dialect, status, "injected failure (fail-next)", retry_after=retry_after)
    key = state.options.require_key
    if key is not None and not _authorized(request, dialect, key):
        message = "invalid x-api-key" if dialect == "anthropic" else "Incorrect API key provided."
        return error_response(dialect, 401, message)
    if state.options.error_rate > 0 and state.rng.random() < state.options.error_rate:
        status = 529 if dialect == "anthropic" else 500
        return error_response(dialect, status, "injected failure (error rate)")
    set_control(request, control)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return error_response(dialect, exc.status, f"no such endpoint: {request.method} {request.path}")
        raise


async def _models(request: web.Request) -> web.StreamResponse:
    models = state_of(request).options.models
    wanted = request.match_info.get("model_id")
    if wanted is not None and wanted not in models:
        return error_response(_dialect(request), 404, f"model not found: {wanted}")
    chosen = [wanted] if wanted is not None else list(models)
    if _dialect(request) == "anthropic":
        entries = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in chosen]
        payload: object = (
            entries[0]
            if wanted is not None
            else {"data": entries, "has_more": False, "first_id": chosen[0], "last_id": chosen[-1]}
        )
    else:
        objects = [{"id": m, "object": "model", "created": 1735689600, "owned_by": "fastgw-fake"} for m in chosen]
        payload = objects[0] if wanted is not None else {"object": "list", "data": objects}
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


async def _health(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def _recorded(request: web.Request) -> web.StreamResponse:
    return web.Response(body=orjson.dumps(state_of(request).recorder.to_json()), content_type="application/json")


async def _fail_next(request: web.Request) -> web.StreamResponse:
    """`{"status": 503, "count": 2}`: the next `count` provider requests are answered `status`."""
    try:
        spec = await request.json()
        status, count = int(spec.get("status", 500)), int(spec.get("count", 1))
    except (ValueError, TypeError, AttributeError):
        return web.json_response({"error": 'expected {"status": 400-599, "count": N}'}, status=400)
    if not 400 <= status <= 599 or count < 0:
        return web.json_response({"error": "status must be 400-599 and count >= 0"}, status=400)
    queue = state_of(request).queued_failures
    queue.clear()
    queue.extend([status] * count)
    return web.json_response({"queued": count})


async def _clear_recorded(request: web.Request) -> web.StreamResponse:
    state_of(request).recorder.clear()
    return web.Response(status=204)


def build_app(options: FakeOptions) -> web.Application:
    app = web.Application(middlewares=[_front], client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = FakeState(options)
    app.router.add_post("/v1/chat/completions", fake_openai.chat_completions)
    app.router.add_post("/v1/embeddings", fake_openai.embeddings)
    app.router.add_post("/v1/responses", fake_responses.create)
    app.router.add_post("/v1/responses/compact", fake_responses.compact)
    app.router.add_get("/v1/responses/{response_id}", fake_responses.retrieve)
    app.router.add_delete("/v1/responses/{response_id}", fake_responses.delete)
    app.router.add_post("/v1/responses/{response_id}/cancel", fake_responses.cancel)
    app.router.add_post("/v1/messages", fake_anthropic.messages)
    app.router.add_post("/v1/messages/count_tokens", fake_anthropic.count_tokens)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{model_id}", _models)
    app.router.add_get("/_fake/health", _health)
    app.router.add_get("/_fake/requests", _recorded)
    app.router.add_delete("/_fake/requests", _clear_recorded)
    app.router.add_post("/_fake/fail-next", _fail_next)
    return app


async def _serve(host: str, port: int, options: FakeOptions, announce: Callable[[str, int], None]) -> None:
    runner = web.AppRunner(build_app(options), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
        # With port 0 the kernel picks the port: announce the one actually bound.
        bound = next((int(addr[1]) for addr in runner.addresses if isinstance(addr, tuple)), port)
        announce(host, bound)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


class ListenError(Exception):
    """The port cannot be bound (in use, no permission): reported as one line, exit status 1."""


def _print_ready(host: str, port: int) -> None:
    print(f"fake provider listening on http://{host}:{port}", flush=True)


def run(host: str, port: int, options: FakeOptions) -> None:
    """Serve until SIGINT/SIGTERM. Port 0 picks a free port; the bound one is printed on stdout as
    `fake provider listening on http://HOST:PORT`."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(host, port, options, _print_ready))


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(
    "fake-provider",
    short_help="The bundled fake OpenAI/Anthropic provider.",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Endpoints: /v1/chat/completions, /v1/messages[/count_tokens], /v1/embeddings, /v1/models; "
    "control: /_fake/health, /_fake/requests, /_fake/fail-next (see fastgw/devtools/README.md).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True, help="Port; 0 picks one.")
@click.option(
    "--token-latency",
    metavar="DURATION",
    callback=_duration,
    default="0",
    show_default=True,
    help="Per token, e.g. 5ms.",
)
@click.option(
    "--ttft", metavar="DURATION", callback=_duration, default="0", show_default=True, help="Time to first token: 200ms."
)
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Fraction of requests failed."
)
@click.option("--require-key", metavar="KEY", default=None, help="Answer 401 unless this API key is sent.")
@click.option("--tokens", type=click.IntRange(1), default=20, show_default=True, help="Output tokens per answer.")
@click.option("--seed", type=int, default=None, help="Seed of the error-injection RNG.")
def command(
    host: str,
    port: int,
    token_latency: float,
    ttft: float,
    error_rate: float,
    require_key: str | None,
    tokens: int,
    seed: int | None,
) -> None:
    """Run the bundled fake LLM provider (OpenAI and Anthropic wire formats, no API key needed).

    Once listening it prints `fake provider listening on http://HOST:PORT` on stdout.
    """
    options = FakeOptions(
        token_latency=token_latency,
        ttft=ttft,
        error_rate=error_rate,
        require_key=require_key,
        default_tokens=tokens,
        seed=seed,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            run(host, port, options)
    except ListenError as exc:
        raise click.ClickException(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m fastgw.devtools.fake_provider` (the same options as `fastgw fake-provider`)."""
    command.main(args=list(argv) if argv is not None else None, prog_name="fake-provider")


if __name__ == "__main__":
    main(sys.argv[1:])
