"""Decoding and encoding EPCs: the entry points of the identity package (TDS 2.x sections 14 and 15).

`decode` turns the hex a reader reports into an `Epc` (or an `UnsupportedEpc` for a header it does not decode);
`encode` turns a pure identity URN, a tag URI or a GS1 element string into hex, for any supported scheme.
"""

from __future__ import annotations

from silentgw.gateway.identity import binary, plus
from silentgw.gateway.identity.charset import uri_escape, uri_unescape
from silentgw.gateway.identity.epc import Epc, UnsupportedEpc
from silentgw.gateway.identity.errors import InvalidEpc, MalformedEpc
from silentgw.gateway.identity.prefixes import CompanyPrefixes
from silentgw.gateway.identity.uri import FAMILY_OF_AI, Source, ais_to_parts, parse, parts_to_ais

__all__ = ["SCHEMES", "decode", "encode", "encode_ais"]

#: Every scheme name `decode` and `encode` support.
SCHEMES = tuple(s.name for s in binary.SCHEMES.values()) + tuple(plus.HEADERS.values())

# Assigned headers of Table 14-1 whose schemes are not decoded here: an `UnsupportedEpc`, not an error.
_NOT_DECODED = {
    0x2C: "gdti-96", 0x2D: "gsrn-96", 0x2E: "gsrnp-96", 0x2F: "usdod-96", 0x35: "gid-96", 0x3A: "gdti-113",
    0x3B: "adi-var", 0x3C: "cpi-96", 0x3D: "cpi-var", 0x3E: "gdti-174", 0x3F: "sgcn-96", 0x40: "itip-110",
    0x41: "itip-212", 0xE6: "cpi++", 0xE7: "gsrn++", 0xE8: "gsrnp++", 0xE9: "sgln++", 0xEA: "gdti++",
    0xEB: "grai++", 0xEC: "sgcn++", 0xED: "itip++", 0xEE: "giai++", 0xEF: "sscc++", 0xF0: "cpi+", 0xF3: "itip+",
    0xF4: "gsrn+", 0xF5: "gsrnp+", 0xF6: "gdti+", 0xF8: "sgcn+", 0xFC: "dsgtin++", 0xFD: "sgtin++",
}  # fmt: skip
_memo_get = binary.sgtin96_memo
_new_epc = tuple.__new__
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_96 = {"sgtin": "sgtin-96", "sscc": "sscc-96", "sgln": "sgln-96", "grai": "grai-96", "giai": "giai-96"}
_LONG = {"sgtin": "sgtin-198", "sscc": "sscc-96", "sgln": "sgln-195", "grai": "grai-170", "giai": "giai-202"}


def decode(hex_str: str, *, prefixes: CompanyPrefixes | None = None, strict: bool = False) -> Epc | UnsupportedEpc:
    """Decode EPC hex (any case, word padding allowed) into an `Epc`, or `UnsupportedEpc` for other schemes.

    Raises `MalformedEpc` for bad hex or a wrong length and `InvalidEpc` for a reserved header, partition 7 or a
    field out of range. Tolerated deviations (non-zero padding) are listed in `Epc.warnings`, or raised as
    `InvalidEpc` when `strict`. `prefixes` lets the "+" schemes write a pure identity URN.
    """
    # Hot path: an SGTIN-96 of a product seen before. 24 ASCII characters that int() reads and whose top byte
    # is 0x30 are 24 hex digits: a sign, "0x", "_" or blank would leave fewer digits and a smaller header.
    if len(hex_str) == 24 and hex_str.isascii():
        try:
            value = int(hex_str, 16)
        except ValueError:
            pass
        else:
            # The memo key holds the header, so a hit is an SGTIN-96; see `binary` for what it holds.
            hit = _memo_get(value >> 38)
            if hit is not None:
                # Inlined rather than a call to `binary`: a call costs as much as the rest of this path.
                serial = str(value & 0x3FFFFFFFFF)
                flt, key_prefix, uri_prefix, cp, gtin, gtin_ai = hit
                return _new_epc(
                    Epc,
                    (hex_str.upper(), "sgtin-96", flt, key_prefix + serial, uri_prefix + serial, cp, gtin, serial,
                     (gtin_ai, ("21", serial)), None, False, ()),
                )  # fmt: skip
    result = _decode(hex_str, prefixes)
    if strict and isinstance(result, Epc) and result.warnings:
        raise InvalidEpc(result.warnings[0], hex=result.hex)
    return result


def _decode(hex_str: str, prefixes: CompanyPrefixes | None) -> Epc | UnsupportedEpc:
    """The general decoder: validate, read the header and hand over to the scheme's decoder."""
    if not isinstance(hex_str, str) or not hex_str:
        raise MalformedEpc("empty EPC")
    if not _HEX_DIGITS.issuperset(hex_str):
        bad = next(char for char in hex_str if char not in _HEX_DIGITS)
        raise MalformedEpc(f"not hexadecimal: {bad!r} at position {hex_str.index(bad)}", hex=hex_str)
    if len(hex_str) < 2:
        raise MalformedEpc("too short for the 8-bit header", hex=hex_str)
    total = 4 * len(hex_str)
    value = int(hex_str, 16)
    header = value >> (total - 8)
    if header in binary.SCHEMES:
        return binary.decode_fixed(value, total, binary.SCHEMES[header], hex_str)
    if header in plus.HEADERS:
        return plus.decode_plus(value, total, header, hex_str, prefixes)
    if header == 0x00:
        raise InvalidEpc("header 00: unprogrammed tag, no EPC", hex=hex_str)
    if header == 0xE2:
        raise InvalidEpc("header E2 is permanently reserved: it is the TID class identifier, not an EPC", hex=hex_str)
    if header in _NOT_DECODED:
        name = _NOT_DECODED[header]
        return UnsupportedEpc(hex_str.upper(), header, f"unsupported scheme {name} (header {header:02X})")
    raise InvalidEpc(f"header {header:02X} is reserved for future use (TDS Table 14-1)", hex=hex_str)


def encode(
    source: str,
    *,
    scheme: str | None = None,
    filter: int | None = None,
    company_prefix_length: int | None = None,
    prefixes: CompanyPrefixes | None = None,
) -> str:
    """Encode a pure identity URN, a tag URI or a GS1 element string into upper-case hex (word-padded).

    The scheme defaults to the tag URI's, else the family's 96-bit scheme when the serial fits, else the long one;
    an element string needs `company_prefix_length` (or `prefixes`) for the TDS 1.x schemes, not for "+" ones.
    The filter defaults to the tag URI's, else 0.
    """
    parsed = parse(source)
    flt = filter if filter is not None else (parsed.filter if parsed.filter is not None else 0)
    chosen = scheme if scheme is not None else parsed.scheme
    if parsed.ais is not None:
        dates = ("11", "13", "15", "16", "17", "7006", "7007")
        date = next(((ai, parsed.ais[ai]) for ai in dates if ai in parsed.ais), None)
        return encode_ais(parsed.ais, scheme=chosen, filter=flt, company_prefix_length=company_prefix_length,
                          prefixes=prefixes, date=date)  # fmt: skip
    assert parsed.parts is not None
    if chosen is None:
        chosen = _default_scheme(parsed)
    _check_family(chosen, parsed.family)
    if chosen in plus.NAMES:
        return plus.encode_plus(chosen, flt, parts_to_ais(parsed.family, parsed.parts))
    parts_to_ais(parsed.family, parsed.parts)  # the same checks as the "+" path: digit counts, escapes
    return _encode_parts(chosen, flt, parsed.family, parsed.parts)


def encode_ais(
    ais: dict[str, str],
    *,
    scheme: str | None = None,
    filter: int = 0,
    company_prefix_length: int | None = None,
    prefixes: CompanyPrefixes | None = None,
    date: tuple[str, str] | None = None,
) -> str:
    """Encode an identity given as GS1 AIs (e.g. {"01": gtin, "21": serial}) into hex."""
    family = next((FAMILY_OF_AI[ai] for ai in ais if ai in FAMILY_OF_AI), None)
    if family is None:
        raise MalformedEpc(f"no GS1 key among the AIs {sorted(ais)}")
    if scheme is None and company_prefix_length is None and prefixes is None:
        scheme = "dsgtin+" if date is not None and family == "sgtin" else f"{family}+"
    if scheme in plus.NAMES:
        _check_family(scheme, family)
        return plus.encode_plus(scheme, filter, ais, date=date if scheme == "dsgtin+" else None)
    length = company_prefix_length
    if length is None and prefixes is not None:
        length = prefixes.length_for(_prefix_digits(family, ais))
    if length is None:
        raise InvalidEpc(f"{scheme or family} needs the company prefix length of {ais}")
    cp, ref, tail = ais_to_parts(family, ais, length)
    # Back to URN parts as written in a URN (escaped), the form `_encode_parts` reads.
    if family == "giai":
        parts: tuple[str, ...] = (cp, uri_escape(ref))
    elif family == "sscc":
        parts = (cp, ref)
    else:
        parts = (cp, ref, uri_escape(tail))
    chosen = scheme if scheme is not None else _default_scheme(Source(family, None, None, parts, None))
    _check_family(chosen, family)
    return _encode_parts(chosen, filter, family, parts)


def _prefix_digits(family: str, ais: dict[str, str]) -> str:
    """The digits of a key where its GS1 Company Prefix starts."""
    key = ais[next(ai for ai in ais if FAMILY_OF_AI.get(ai) == family)]
    return key[1:] if family in ("sgtin", "sscc", "grai") else key


def _default_scheme(parsed: Source) -> str:
    """The family's 96-bit scheme if the URN's serial fits it, else its long scheme."""
    assert parsed.parts is not None
    short = _96[parsed.family]
    try:
        _encode_parts(short, 0, parsed.family, parsed.parts)
    except InvalidEpc:
        return _LONG[parsed.family]
    return short


def _check_family(scheme: str, family: str) -> None:
    """Refuse encoding e.g. an SSCC as SGTIN-96."""
    if scheme not in SCHEMES:
        raise InvalidEpc(f"unknown scheme {scheme!r}; supported: {', '.join(SCHEMES)}")
    target = scheme.split("-")[0].rstrip("+")
    if (target if target != "dsgtin" else "sgtin") != family:
        raise InvalidEpc(f"a {family} identity cannot be encoded as {scheme}")


def _encode_parts(scheme: str, flt: int, family: str, parts: tuple[str, ...]) -> str:
    """Encode URN parts (as written in the URN) with a TDS 1.x scheme."""
    if family == "giai":
        return binary.encode_fixed(scheme, flt, parts[0], uri_unescape(parts[1]), "")
    tail = uri_unescape(parts[2]) if len(parts) > 2 else ""
    return binary.encode_fixed(scheme, flt, parts[0], parts[1], tail)
