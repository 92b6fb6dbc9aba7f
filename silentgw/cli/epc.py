"""`silentgw epc`: decode and encode EPCs (GS1 EPC Tag Data Standard 2.x) from the command line."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from silentgw.gateway.identity import CompanyPrefixes, Epc, EpcError, decode, encode

app = typer.Typer(help="Decode and encode EPCs (GS1 EPC Tag Data Standard 2.x).", no_args_is_help=True)

_FIELDS = ("scheme", "filter", "uri", "tag_uri", "key", "element_string", "digital_link", "gtin", "serial")


@app.command("decode")
def decode_command(
    hexes: Annotated[list[str], typer.Argument(metavar="HEX...", help="EPCs as hex, as a reader reports them.")],
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line per EPC.")] = False,
    prefix: Annotated[
        list[str] | None, typer.Option("--prefix", help="A known GS1 Company Prefix, for URNs of '+' EPCs.")
    ] = None,
) -> None:
    """Decode EPC hex strings; exit code 1 if any could not be decoded."""
    prefixes = CompanyPrefixes.of(prefix) if prefix else None
    failed = False
    for text in hexes:
        try:
            result = decode(text, prefixes=prefixes)
        except EpcError as exc:
            failed = True
            _emit({"hex": text, "error": str(exc.reason)}, json_lines)
            continue
        if not isinstance(result, Epc):
            failed = True
        _emit(result.to_dict(), json_lines)
    raise typer.Exit(1 if failed else 0)


def _emit(row: dict[str, object], json_lines: bool) -> None:
    """Print one result, as a JSON line or as aligned `name: value` lines."""
    if json_lines:
        typer.echo(orjson.dumps(row).decode())
        return
    typer.echo(str(row["hex"]))
    for name in (*_FIELDS, "date", "warnings", "error"):
        if row.get(name) is not None:
            typer.echo(f"  {name:<15} {row[name]}")


@app.command("encode")
def encode_command(
    source: Annotated[
        str | None, typer.Argument(help="A pure identity URN, a tag URI or a GS1 element string.")
    ] = None,
    scheme: Annotated[str | None, typer.Option(help="sgtin-96, sgtin-198, sgtin+, dsgtin+, sscc-96, ...")] = None,
    filter: Annotated[int | None, typer.Option(help="Filter value 0-7 (default: the tag URI's, else 0).")] = None,
    gtin: Annotated[str | None, typer.Option(help="GTIN, instead of SOURCE (with --serial).")] = None,
    serial: Annotated[str | None, typer.Option(help="Serial number, with --gtin.")] = None,
    company_prefix_length: Annotated[int | None, typer.Option(help="GS1 Company Prefix length (6-12).")] = None,
) -> None:
    """Encode an EPC and print its hex (upper case, padded to 16-bit words)."""
    if source is None:
        if gtin is None or serial is None:
            raise typer.BadParameter("give SOURCE, or --gtin and --serial")
        source = f"(01){gtin.zfill(14)}(21){serial}"
        if scheme is None and company_prefix_length is not None:
            scheme = "sgtin-96"
    try:
        typer.echo(encode(source, scheme=scheme, filter=filter, company_prefix_length=company_prefix_length))
    except EpcError as exc:
        typer.echo(f"error: {exc.reason}", err=True)
        raise typer.Exit(1) from None
