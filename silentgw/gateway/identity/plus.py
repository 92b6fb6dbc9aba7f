"""The "+" EPC schemes of TDS 2.0 (TDS 2.x sections 14.5, 14.6 and 15.3): SGTIN+ (F7), DSGTIN+ (FB), SSCC+ (F9),
SGLN+ (F2), GRAI+ (F1) and GIAI+ (FA).

Layout (Table 14-1 headers; coding tables 14.6.1.3, 14.6.1.4, 14.6.2.2, 14.6.3.3, 14.6.4.3, 14.6.5.3): 8-bit header,
the +AIDC data toggle bit (14.5.1: 1 when more AIDC data follows the EPC), the 3-bit filter value, for DSGTIN+ a
prioritised date (14.5.3), then the GS1 keys as their AIs: (01) in 56 bits and (00) in 72 bits of Fixed-Length Numeric,
(414) in 52, (8003) in 56 bits plus its serial; (21), (254) and the GRAI serial as variable-length alphanumeric with
a 5-bit length; (8004) as Delimited/Terminated Numeric. No company-prefix length is encoded, so a pure identity URN
is written only when a `CompanyPrefixes` lookup knows the prefix. The +AIDC data after the EPC is not decoded.
"""

from __future__ import annotations

from silentgw.gateway.identity.aidc import DATE_AIS, BitReader, BitWriter, check_date
from silentgw.gateway.identity.charset import uri_escape
from silentgw.gateway.identity.epc import Epc
from silentgw.gateway.identity.errors import InvalidEpc, MalformedEpc
from silentgw.gateway.identity.gs1 import check_digit_of
from silentgw.gateway.identity.prefixes import CompanyPrefixes

__all__ = ["HEADERS", "NAMES", "decode_plus", "encode_plus", "pure_uri"]

HEADERS = {0xF7: "sgtin+", 0xFB: "dsgtin+", 0xF9: "sscc+", 0xF2: "sgln+", 0xF1: "grai+", 0xFA: "giai+"}
NAMES = {name: header for header, name in HEADERS.items()}


def _checked(digits: str, what: str) -> str:
    """Refuse a GS1 key whose last digit is not its check digit."""
    if check_digit_of(int(digits[:-1])) != int(digits[-1]):
        raise InvalidEpc(f"{what} {digits} has a wrong check digit")
    return digits


def decode_plus(value: int, total_bits: int, header: int, hex_str: str, prefixes: CompanyPrefixes | None) -> Epc:
    """Decode a "+" scheme from the integer value of all its hex digits."""
    name = HEADERS[header]
    bits = BitReader(value, total_bits, hex_str)
    bits.read(8)
    aidc = bits.read(1) == 1
    flt = bits.read(3)
    date: tuple[str, str] | None = None
    try:
        if name == "dsgtin+":
            date = bits.prioritised_date()
        if name in ("sgtin+", "dsgtin+"):
            gtin = _checked(bits.fixed_numeric(14), "GTIN")
            serial = bits.alphanumeric(20)
            if not serial:
                raise InvalidEpc("serial (21) is empty")
            ais: tuple[tuple[str, str], ...] = (("01", gtin), ("21", serial))
        elif name == "sscc+":
            ais = (("00", _checked(bits.fixed_numeric(18), "SSCC")),)
        elif name == "sgln+":
            gln = _checked(bits.fixed_numeric(13), "GLN")
            extension = bits.alphanumeric(20)
            # A zero-length or "0" extension is the GLN itself, as extension 0 is in SGLN-96 (14.6.3).
            ais = (("414", gln),) if extension in ("", "0") else (("414", gln), ("254", extension))
        elif name == "grai+":
            grai = bits.fixed_numeric(14)
            if grai[0] != "0":
                raise InvalidEpc(f"GRAI+ must start with the pad digit 0, not {grai[0]}")
            _checked(grai[1:], "GRAI")
            serial = bits.alphanumeric(16)
            if not serial:
                raise InvalidEpc("a GRAI without serial is an asset class, not an EPC")
            ais = (("8003", grai + serial),)
        else:
            ais = (("8004", bits.delimited_numeric(30)),)
    except InvalidEpc as exc:
        raise InvalidEpc(exc.reason, hex=hex_str) from None
    rest, rest_bits = bits.rest()
    warnings: tuple[str, ...] = ()
    if aidc:
        if not rest_bits:
            warnings = ("+AIDC data toggle is set but no data follows the EPC",)
    else:
        if total_bits > -(-bits.pos // 16) * 16:
            raise MalformedEpc(f"{name} ends at bit {bits.pos}: {rest_bits} bits follow it", hex=hex_str)
        if rest:
            warnings = (f"non-zero padding bits after bit {bits.pos} of {name}",)
    uri, company_prefix = pure_uri(name, ais, prefixes)
    key = "".join(f"({ai}){text}" for ai, text in ais)
    gtin_or_none = ais[0][1] if ais[0][0] == "01" else None
    serial_or_none = next((text for ai, text in ais if ai == "21"), None)
    if ais[0][0] == "8003":
        serial_or_none = ais[0][1][14:]
    return Epc(hex_str.upper(), name, flt, key, uri, company_prefix, gtin_or_none, serial_or_none, ais,
               date, aidc, warnings)  # fmt: skip


def pure_uri(
    name: str, ais: tuple[tuple[str, str], ...], prefixes: CompanyPrefixes | None
) -> tuple[str | None, str | None]:
    """The pure identity URN and company prefix of a "+" EPC, when `prefixes` knows the prefix."""
    if prefixes is None:
        return None, None
    key = ais[0][1]
    if name in ("sgtin+", "dsgtin+", "sscc+"):
        body = key[1:-1]
        length = prefixes.length_for(body)
        if length is None:
            return None, None
        cp, ref = body[:length], key[0] + body[length:]
        if name == "sscc+":
            return f"urn:epc:id:sscc:{cp}.{ref}", cp
        return f"urn:epc:id:sgtin:{cp}.{ref}.{uri_escape(ais[1][1])}", cp
    if name == "sgln+":
        length = prefixes.length_for(key[:12])
        if length is None:
            return None, None
        extension = ais[1][1] if len(ais) > 1 else "0"
        return f"urn:epc:id:sgln:{key[:length]}.{key[length:12]}.{uri_escape(extension)}", key[:length]
    if name == "grai+":
        length = prefixes.length_for(key[1:13])
        if length is None:
            return None, None
        cp = key[1 : 1 + length]
        return f"urn:epc:id:grai:{cp}.{key[1 + length : 13]}.{uri_escape(key[14:])}", cp
    length = prefixes.length_for(key)
    if length is None or length >= len(key):
        return None, None
    return f"urn:epc:id:giai:{key[:length]}.{uri_escape(key[length:])}", key[:length]


def encode_plus(name: str, flt: int, ais: dict[str, str], *, date: tuple[str, str] | None = None) -> str:
    """Encode a "+" scheme (no +AIDC data, toggle 0) from its AIs; word-padded upper-case hex."""
    if name not in NAMES:
        raise InvalidEpc(f"unknown scheme {name!r}")
    if not 0 <= flt <= 7:
        raise InvalidEpc(f"filter value {flt} is not 0-7")
    out = BitWriter()
    out.write(NAMES[name], 8)
    out.write(0, 1)
    out.write(flt, 3)
    try:
        if name == "dsgtin+":
            if date is None or date[0] not in DATE_AIS:
                raise InvalidEpc(f"DSGTIN+ needs a date with one of the AIs {sorted(DATE_AIS)}")
            text = date[1]
            if len(text) != 6 or not (text.isdigit() and text.isascii()):
                raise InvalidEpc(f"date {text!r} must be YYMMDD")
            check_date(int(text[:2]), int(text[2:4]), int(text[4:]))
            out.write(DATE_AIS[date[0]], 4)
            out.write(int(text[:2]), 7)
            out.write(int(text[2:4]), 4)
            out.write(int(text[4:]), 5)
        if name in ("sgtin+", "dsgtin+"):
            out.fixed_numeric(_checked(ais["01"], "GTIN"), 14)
            out.alphanumeric(ais["21"], 20)
        elif name == "sscc+":
            out.fixed_numeric(_checked(ais["00"], "SSCC"), 18)
        elif name == "sgln+":
            out.fixed_numeric(_checked(ais["414"], "GLN"), 13)
            extension = ais.get("254", "0")
            out.alphanumeric(extension, 20)
        elif name == "grai+":
            grai = ais["8003"]
            if len(grai) < 15 or grai[0] != "0":
                raise InvalidEpc(f"GRAI {grai!r} must be 0, 13 digits and a serial")
            out.fixed_numeric(grai[:14], 14)
            _checked(grai[1:14], "GRAI")
            out.alphanumeric(grai[14:], 16)
        else:
            out.delimited_numeric(ais["8004"], 30)
    except KeyError as exc:
        raise MalformedEpc(f"{name} needs AI ({exc.args[0]})") from None
    padded = -(-out.bits // 16) * 16
    return f"{out.value << (padded - out.bits):0{padded // 4}X}"
