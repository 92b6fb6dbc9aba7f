"""`silentgw broker config`: the Mosquitto files that close the broker to everyone but the gateway and its devices.

Three files, from the settings' devices (:mod:`silentgw.gateway.broker` says who may do what, and why):
``silentgw.conf`` (a listener with no anonymous access, the password and ACL files, TLS when asked, the queue
settings docs/mqtt.md gives), ``silentgw.passwd`` (one account per MQTT device and the gateway's, hashed as
mosquitto_passwd does) and ``silentgw.acl``. Printed, or written into ``--out``; written again into the same
directory, the accounts already there keep their passwords, so devices need not be set up again.

Passwords are hashed by ``mosquitto_passwd -U`` when it is installed (the broker's own tool, so its format is the
broker's), else here with the same PBKDF2-SHA512 ``$7$`` format. Passwords made up for devices are shown once.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from silentgw.cli.context import context
from silentgw.drivers.registry import Registry
from silentgw.gateway.app import build_drivers
from silentgw.gateway.broker import Account, acl_file, new_password, password_hash, plan
from silentgw.gateway.config import ConfigError, Settings

__all__ = ["app", "config"]

app = typer.Typer(help="Set up the MQTT broker for the gateway and its devices.", no_args_is_help=True)

CONF, PASSWD, ACL = "silentgw.conf", "silentgw.passwd", "silentgw.acl"


class Hasher(enum.StrEnum):
    """Who hashes the passwords."""

    AUTO = "auto"
    MOSQUITTO_PASSWD = "mosquitto_passwd"  # noqa: S105  # a tool's name, not a password
    BUILTIN = "builtin"


@app.command("config")
def config(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the files into this directory instead of printing them.")
    ] = None,
    broker_dir: Annotated[
        Path, typer.Option("--broker-dir", help="Where the broker will read the password and ACL files.")
    ] = Path("/etc/mosquitto"),
    bind: Annotated[
        str | None, typer.Option("--bind", help="Address the listener binds (default: every interface).")
    ] = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="A TLS listener (as [mqtt] tls does); certificates in --certs-dir.")
    ] = False,
    certs_dir: Annotated[
        Path, typer.Option("--certs-dir", help="Where the broker finds ca.crt, server.crt and server.key.")
    ] = Path("/etc/mosquitto/certs"),
    hasher: Annotated[Hasher, typer.Option("--hasher", help="Who hashes the passwords.")] = Hasher.AUTO,
) -> None:
    """Print (or write into --out) a Mosquitto listener, password file and ACL for the configured devices."""
    settings = context(ctx).settings()
    try:
        registry = Registry.installed()
        accounts = plan(settings, registry, build_drivers(settings, registry))
    except (ConfigError, ValueError) as exc:
        typer.echo(f"silentgw: {exc}", err=True)
        raise typer.Exit(2) from exc
    kept = _existing(out / PASSWD) if out is not None else {}
    made: dict[str, str] = {}
    entries: dict[str, str] = {}
    clear: dict[str, str] = {}
    for account in accounts.accounts:
        if account.password is not None:
            clear[account.user] = account.password  # the settings' password: the file follows the settings
        elif account.user in kept:
            entries[account.user] = kept[account.user]
        else:
            clear[account.user] = made[account.user] = new_password()
    entries.update(_hashed(clear, hasher))
    use_tls = tls or settings.mqtt.tls is not None
    files = {
        CONF: _conf(settings, broker_dir=broker_dir, bind=bind, tls=use_tls, certs_dir=certs_dir),
        PASSWD: "".join(f"{a.user}:{entries[a.user]}\n" for a in accounts.accounts),
        ACL: acl_file(accounts.accounts, site=settings.site.id),
    }
    if out is None:
        for name, text in files.items():
            typer.echo(f"# ---- {name} ----\n{text}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = out / name
            path.touch(mode=0o600 if name == PASSWD else 0o644)
            path.write_text(text)
        typer.echo(f"wrote {', '.join(str(out / n) for n in files)}")
        typer.echo(f"install them in {broker_dir} (the passwd file readable by the broker's user only), and include "
                   f"{CONF} from mosquitto.conf (Debian: /etc/mosquitto/conf.d/)")  # fmt: skip
    _tell(made, accounts.accounts, settings, err=out is None)
    for note in accounts.notes:
        typer.echo(f"note: {note}", err=True)


def _existing(path: Path) -> dict[str, str]:
    """The hashed entries of a password file already written, by user."""
    if not path.is_file():
        return {}
    lines = (line.partition(":") for line in path.read_text().splitlines() if ":" in line)
    return {user: hashed for user, _, hashed in lines}


def _hashed(clear: dict[str, str], hasher: Hasher) -> dict[str, str]:
    """The hashes of ``clear`` passwords, by user: mosquitto_passwd's when asked or installed, else our own."""
    tool = shutil.which("mosquitto_passwd")
    if hasher is Hasher.MOSQUITTO_PASSWD and tool is None:
        raise typer.BadParameter("mosquitto_passwd is not installed", param_hint="--hasher")
    if not clear or hasher is Hasher.BUILTIN or tool is None:
        return {user: password_hash(password) for user, password in clear.items()}
    fd, name = tempfile.mkstemp(prefix="silentgw-passwd-")  # created 0600: clear passwords for a moment
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{user}:{password}\n" for user, password in clear.items())
        subprocess.run([tool, "-U", name], check=True, capture_output=True, timeout=30)  # noqa: S603  # our temp file
        return _existing(Path(name))
    finally:
        os.unlink(name)


def _conf(settings: Settings, *, broker_dir: Path, bind: str | None, tls: bool, certs_dir: Path) -> str:
    """The broker's settings for the gateway's listener: no anonymous access, the files, TLS, the queues."""
    port = settings.mqtt.port
    lines = [
        f"# Mosquitto settings for silentgw site {settings.site.id}: written by `silentgw broker config`.",
        "# Include it from mosquitto.conf (Debian: /etc/mosquitto/conf.d/silentgw.conf) or run `mosquitto -c` on it.",
        "# Every client names an account of the password file and may use only the topics the ACL gives it.",
        f"listener {port}" + (f" {bind}" if bind else ""),
    ]
    if tls:
        lines += [
            "# TLS (docs/mqtt.md, 'Authentication, ACLs and TLS'): the gateway sets [mqtt] tls = { ca_file = ... }",
            f"cafile {certs_dir / 'ca.crt'}",
            f"certfile {certs_dir / 'server.crt'}",
            f"keyfile {certs_dir / 'server.key'}",
            "tls_version tlsv1.2",
            "# Client certificates as well as passwords: uncomment, and give the gateway cert_file and key_file.",
            "# require_certificate true",
        ]
    lines += [
        "allow_anonymous false",
        f"password_file {broker_dir / PASSWD}",
        f"acl_file {broker_dir / ACL}",
        "",
        "# Queues for the gateway (docs/mqtt.md, 'Mosquitto settings'): never drop a busy reader's QoS 1 reads,",
        "# and let the gateway bound what is in flight itself (MQTT 5 Receive Maximum = its max_buffered).",
        "max_queued_messages 100000",
        "max_inflight_messages 0",
        "set_tcp_nodelay true",
        "# and, unless mosquitto.conf has them already (Debian's does): persistence true, persistence_location ...",
    ]
    return "\n".join(lines) + "\n"


def _tell(made: dict[str, str], accounts: list[Account], settings: Settings, *, err: bool) -> None:
    """Show the passwords made now, once, and where each goes."""
    if not made:
        return
    typer.echo("# passwords made now, shown once: type each into its device's MQTT settings", err=err)
    for account in accounts:
        if account.user in made:
            typer.echo(f"{account.user}\t{made[account.user]}\t# {account.about}", err=err)
    if settings.mqtt.password is None:
        typer.echo("# the gateway's: set SILENTGW_MQTT__PASSWORD to it (e.g. in /etc/silentgw/silentgw.env)", err=err)
