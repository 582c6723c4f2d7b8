"""`fastgw keys create|list|show|rotate|revoke`: the admin API's `/keys` from the command line
(a running gateway's `config.adminAddr`)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

import click

ADMIN = "127.0.0.1:15000"


def _call(admin: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{admin}{path}", data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        raise click.ClickException(f"{method} {path}: {e.code}: {detail}") from None
    except OSError as e:
        raise click.ClickException(f"cannot reach the admin API at {admin}: {e}") from None
    return json.loads(raw) if raw else None


def _budget(text: str) -> dict[str, Any]:
    """`WINDOW:tokens=N[,usd=X]` or `NAME@WINDOW:...`, e.g. `1d:tokens=100000,usd=5`."""
    head, sep, rest = text.partition(":")
    if not sep:
        raise click.BadParameter(f"{text!r}: expected WINDOW:tokens=N,usd=X (WINDOW: 1h, 1d, 30d, total)")
    name, _, window = head.rpartition("@")
    out: dict[str, Any] = {"window": window, "name": name or window}
    for item in rest.split(","):
        key, _, value = item.partition("=")
        try:
            if key == "tokens":
                out["tokens"] = int(value)
            elif key == "usd":
                out["usd"] = float(value)
            else:
                raise ValueError
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected tokens=N or usd=X") from None
    return out


admin_option = click.option("--admin", default=ADMIN, show_default=True, help="The gateway's adminAddr.")


@click.group(short_help="Virtual API keys: create, list, rotate, revoke (config.virtualKeys).")
def keys() -> None:
    """Manage the virtual API keys of a running gateway through its admin API."""


@keys.command(short_help="Create a key; prints it once.")
@click.argument("name")
@click.option("--meta", "metadata", multiple=True, help="KEY=VALUE metadata (apiKey.KEY in CEL); repeatable.")
@click.option("--budget", "budgets", multiple=True, help="[NAME@]WINDOW:tokens=N,usd=X; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@admin_option
def create(name: str, metadata: tuple[str, ...], budgets: tuple[str, ...], as_json: bool, admin: str) -> None:
    meta = {}
    for item in metadata:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--meta")
        meta[key] = value
    record = _call(admin, "POST", "/keys", {"name": name, "metadata": meta, "budgets": [_budget(b) for b in budgets]})
    click.echo(json.dumps(record, indent=2) if as_json else f"{record['id']}\t{record['key']}")


@keys.command(name="list", short_help="List keys and their spend.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@admin_option
def list_keys(as_json: bool, admin: str) -> None:
    records = _call(admin, "GET", "/keys")["keys"]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        spend = "; ".join(
            f"{b['name']}: {b['spentTokens']}"
            + (f"/{b['tokens']}" if b.get("tokens") else "")
            + f" tokens, ${b['spentUsd']:g}"
            + (f"/${b['usd']:g}" if b.get("usd") else "")
            for b in r["budgets"]
        )
        state = "disabled" if r["disabled"] else "active"
        click.echo(f"{r['id']}\t{r['name']}\t{state}\t{spend}")


@keys.command(short_help="Show one key's record and spend.")
@click.argument("key_id")
@admin_option
def show(key_id: str, admin: str) -> None:
    click.echo(json.dumps(_call(admin, "GET", f"/keys/{key_id}"), indent=2))


@keys.command(short_help="Give a key a new secret (the old one stops working).")
@click.argument("key_id")
@admin_option
def rotate(key_id: str, admin: str) -> None:
    click.echo(_call(admin, "POST", f"/keys/{key_id}/rotate")["key"])


@keys.command(short_help="Delete a key.")
@click.argument("key_id")
@admin_option
def revoke(key_id: str, admin: str) -> None:
    _call(admin, "DELETE", f"/keys/{key_id}")
    click.echo(f"revoked {key_id}", err=True)


@keys.command(short_help="Disable a key (kept, refused).")
@click.argument("key_id")
@admin_option
def disable(key_id: str, admin: str) -> None:
    _call(admin, "POST", f"/keys/{key_id}/disable")


@keys.command(short_help="Enable a disabled key.")
@click.argument("key_id")
@admin_option
def enable(key_id: str, admin: str) -> None:
    _call(admin, "POST", f"/keys/{key_id}/enable")


if __name__ == "__main__":
    sys.exit(keys())
