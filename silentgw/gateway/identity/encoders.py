"""Encoders per GS1 key: build the AIs of one identity and encode them with a chosen scheme (TDS 2.x section 14).

Each takes the GS1 key as it appears in an element string; the TDS 1.x schemes also need the GS1 Company Prefix
length (or a `CompanyPrefixes` lookup), the "+" schemes do not.
"""

from __future__ import annotations

from silentgw.gateway.identity.codec import encode_ais
from silentgw.gateway.identity.prefixes import CompanyPrefixes

__all__ = ["encode_giai", "encode_grai", "encode_sgln", "encode_sgtin", "encode_sscc"]


def encode_sgtin(
    *,
    gtin: str,
    serial: str,
    scheme: str = "sgtin-96",
    filter: int = 0,
    company_prefix_length: int | None = None,
    prefixes: CompanyPrefixes | None = None,
    date: tuple[str, str] | None = None,
) -> str:
    """Hex of an SGTIN (GTIN-14 and serial) as sgtin-96, sgtin-198, sgtin+ or dsgtin+ (with `date`)."""
    return encode_ais({"01": gtin.zfill(14), "21": serial}, scheme=scheme, filter=filter,
                      company_prefix_length=company_prefix_length, prefixes=prefixes, date=date)  # fmt: skip


def encode_sscc(
    *,
    sscc: str,
    scheme: str = "sscc-96",
    filter: int = 0,
    company_prefix_length: int | None = None,
    prefixes: CompanyPrefixes | None = None,
) -> str:
    """Hex of an 18-digit SSCC as sscc-96 or sscc+."""
    return encode_ais({"00": sscc}, scheme=scheme, filter=filter, company_prefix_length=company_prefix_length,
                      prefixes=prefixes)  # fmt: skip


def encode_sgln(
    *,
    gln: str,
    extension: str = "0",
    scheme: str = "sgln-96",
    filter: int = 0,
    company_prefix_length: int | None = None,
    prefixes: CompanyPrefixes | None = None,
) -> str:
    """Hex of a GLN with its extension ("0" for none) as sgln-96, sgln-195 or sgln+."""
    ais = {"414": gln} if extension == "0" else {"414": gln, "254": extension}
    return encode_ais(ais, scheme=scheme, filter=filter, company_prefix_length=company_prefix_length,
                      prefixes=prefixes)  # fmt: skip


def encode_grai(
    *,
    grai: str,
    scheme: str = "grai-96",
    filter: int = 0,
    company_prefix_length: int | None = None,
    prefixes: CompanyPrefixes | None = None,
) -> str:
    """Hex of a GRAI (the AI 8003 value: 0, 13 digits, serial) as grai-96, grai-170 or grai+."""
    return encode_ais({"8003": grai}, scheme=scheme, filter=filter, company_prefix_length=company_prefix_length,
                      prefixes=prefixes)  # fmt: skip


def encode_giai(
    *,
    giai: str,
    scheme: str = "giai-96",
    filter: int = 0,
    company_prefix_length: int | None = None,
    prefixes: CompanyPrefixes | None = None,
) -> str:
    """Hex of a GIAI (the AI 8004 value) as giai-96, giai-202 or giai+."""
    return encode_ais({"8004": giai}, scheme=scheme, filter=filter, company_prefix_length=company_prefix_length,
                      prefixes=prefixes)  # fmt: skip
