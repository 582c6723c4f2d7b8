"""`fastgw k8s ...`: render Kubernetes manifests into a fastgw config, or run as a controller."""

from __future__ import annotations

import logging
import os
import sys

import click

from fastgw.k8s import CONTROLLER_NAME


def _pairs(values: tuple[str, ...], what: str, int_keys: bool = False) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            key, value = "", v
        if not value or (int_keys and not (key.isdigit() and value.isdigit())):
            raise click.BadParameter(f"{v!r}: expected {what}")
        out[key] = value
    return out


@click.group("k8s")
def k8s() -> None:
    """Kubernetes: Gateway API manifests -> fastgw config, and controller mode."""


@k8s.command()
@click.option(
    "-f", "--filename", "files", multiple=True, required=True, help="Manifest file or directory; '-' reads stdin."
)
@click.option("--gateway", help="Gateway to render, NAME or NAMESPACE/NAME [the only one].")
@click.option("-o", "--output", help="Write the config here [stdout].")
@click.option("-n", "--namespace", default="default", show_default=True, help="Namespace of manifests that name none.")
@click.option("--secrets-dir", help="Write each secret to DIR/<namespace>/<name>/<key> (0600) and reference the files.")
@click.option(
    "--provider-host",
    "provider_hosts",
    multiple=True,
    metavar="[PROVIDER=]HOST:PORT",
    help="Send a provider's (or, without PROVIDER=, every provider's) requests to this plain-HTTP server.",
)
@click.option(
    "--port-map", "port_map", multiple=True, metavar="PORT=LOCALPORT", help="Serve a listener port on another port."
)
def render(
    files: tuple[str, ...],
    gateway: str | None,
    output: str | None,
    namespace: str,
    secrets_dir: str | None,
    provider_hosts: tuple[str, ...],
    port_map: tuple[str, ...],
) -> None:
    """Render a Gateway and its HTTPRoutes, backends, policies and Secrets into a fastgw config.

    Secrets are never written into the config: they become $ENV references (listed on stderr) or,
    with --secrets-dir, files. Warnings name each resource field that is not rendered."""
    from fastgw.k8s import output as out
    from fastgw.k8s.manifests import ManifestSet
    from fastgw.k8s.render import RenderOptions
    from fastgw.k8s.render import render as do_render
    from fastgw.k8s.secrets import write_files

    hosts = _pairs(provider_hosts, "[PROVIDER=]HOST:PORT")
    ports = {int(k): int(v) for k, v in _pairs(port_map, "PORT=LOCALPORT", int_keys=True).items()}
    manifests = ManifestSet(namespace)
    for f in files:
        manifests.load_path(f)
    rendered = do_render(manifests, RenderOptions(gateway=gateway, provider_hosts=hosts, port_map=ports))
    for d in rendered.diagnostics.items:
        click.echo(str(d), err=True)
    if not rendered.ok or rendered.config is None:
        click.echo("fastgw k8s render: not rendered (errors above)", err=True)
        sys.exit(1)
    problems = out.validation_errors(rendered.config)
    if problems:
        click.echo("fastgw k8s render: the rendered config does not validate:", err=True)
        for line in problems:
            click.echo(f"  {line}", err=True)
        sys.exit(1)
    form: out.SecretsForm = "files" if secrets_dir else "env"
    if secrets_dir:
        secrets_dir = os.path.abspath(secrets_dir)
        failed = write_files(rendered.secrets, secrets_dir, os.environ)
        if failed:
            for line in failed:
                click.echo(f"error: {line}", err=True)
            sys.exit(1)
    text = out.header(rendered, form, secrets_dir, list(files)) + out.to_yaml(rendered.config, form, secrets_dir)
    if output:
        tmp = f"{output}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    else:
        click.echo(text, nl=False)
    for line in out.needs(rendered.secrets, form, secrets_dir):
        click.echo(line, err=True)


@k8s.command()
@click.option(
    "--config-out", required=True, help="Where to write the rendered config (the gateway serves it with --watch)."
)
@click.option("--secrets-dir", required=True, help="Where to write the secrets the config reads (0600 files).")
@click.option("--gateway", help="Serve this Gateway (NAMESPACE/NAME) [the only one of the class].")
@click.option(
    "--controller-name", default=CONTROLLER_NAME, show_default=True, help="GatewayClass controllerName served."
)
@click.option("--namespace", "namespaces", multiple=True, help="Watch only these namespaces [all].")
@click.option("--kubeconfig", help="Kubeconfig file [in-cluster service account, else ~/.kube/config].")
@click.option(
    "--health-addr",
    default="0.0.0.0:15030",
    show_default=True,
    help="GET /healthz/ready: 200 once a config is written.",
)
@click.option("--pid-file", help="Also send SIGHUP to the process whose pid this file holds after each write.")
@click.option("--base-config", help="A fastgw config whose settings other than binds (config:, ...) are kept.")
@click.option("--provider-host", "provider_hosts", multiple=True, metavar="[PROVIDER=]HOST:PORT", help="As for render.")
@click.option("--port-map", "port_map", multiple=True, metavar="PORT=LOCALPORT", help="As for render.")
@click.option("--once", is_flag=True, help="Render once from the current state, write status, and exit.")
def controller(
    config_out: str,
    secrets_dir: str,
    gateway: str | None,
    controller_name: str,
    namespaces: tuple[str, ...],
    kubeconfig: str | None,
    health_addr: str,
    pid_file: str | None,
    base_config: str | None,
    provider_hosts: tuple[str, ...],
    port_map: tuple[str, ...],
    once: bool,
) -> None:
    """Watch Gateway API resources for this controller's GatewayClass, re-render on every change,
    write the config for the gateway to reload, and write status conditions."""
    from fastgw.k8s.controller import Controller, ControllerOptions

    opts = ControllerOptions(
        config_out=config_out,
        secrets_dir=secrets_dir,
        gateway=gateway,
        controller_name=controller_name,
        namespaces=namespaces,
        kubeconfig=kubeconfig,
        health_addr=None if health_addr == "off" else health_addr,
        pid_file=pid_file,
        base_config=base_config,
        provider_hosts=_pairs(provider_hosts, "[PROVIDER=]HOST:PORT"),
        port_map={int(k): int(v) for k, v in _pairs(port_map, "PORT=LOCALPORT", int_keys=True).items()},
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s\t%(levelname)s\t%(name)s\t%(message)s")
    sys.exit(Controller.from_options(opts).run(once=once))
