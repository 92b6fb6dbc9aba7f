"""The GCP-partitioned EPC binary schemes of TDS 1.x, kept in TDS 2.x (sections 14.3, 14.4 and 14.6):
SGTIN-96/198, SSCC-96, SGLN-96/195, GRAI-96/170, GIAI-96/202.

Each is a fixed-length bit string: 8-bit header, 3-bit filter, 3-bit partition, GS1 Company Prefix and the next
field sized by the partition table, then the serial (an integer, or 7-bit characters padded with zero bits).
Readers report whole 16-bit words, so the input may carry up to 15 padding bits after the scheme's length
(section 14.4 step 3): zeros are accepted, anything else is kept as a warning.
"""

from __future__ import annotations

from typing import NamedTuple

from silentgw.gateway.identity import partition as tables
from silentgw.gateway.identity.charset import decode_string, encode_string, uri_escape
from silentgw.gateway.identity.epc import Epc
from silentgw.gateway.identity.errors import InvalidEpc, MalformedEpc
from silentgw.gateway.identity.gs1 import check_digit_of

__all__ = ["SCHEMES", "FixedScheme", "decode_fixed", "encode_fixed", "sgtin96_memo"]


class FixedScheme(NamedTuple):
    """A fixed-length scheme: its name, header, length, partition table and serial field."""

    name: str
    header: int
    bits: int
    table: tables.PartitionTable
    tail_bits: int
    tail_chars: int
    """0 when the tail is an integer, else the maximum number of 7-bit characters."""


SCHEMES: dict[int, FixedScheme] = {
    s.header: s
    for s in (
        FixedScheme("sgtin-96", 0x30, 96, tables.SGTIN, 38, 0),
        FixedScheme("sgtin-198", 0x36, 198, tables.SGTIN, 140, 20),
        FixedScheme("sscc-96", 0x31, 96, tables.SSCC, 24, 0),
        FixedScheme("sgln-96", 0x32, 96, tables.SGLN, 41, 0),
        FixedScheme("sgln-195", 0x39, 195, tables.SGLN, 140, 20),
        FixedScheme("grai-96", 0x33, 96, tables.GRAI, 38, 0),
        FixedScheme("grai-170", 0x37, 170, tables.GRAI, 112, 16),
        FixedScheme("giai-96", 0x34, 96, tables.GIAI96, 0, 0),
        FixedScheme("giai-202", 0x38, 202, tables.GIAI202, 0, 0),
    )
}
BY_NAME = {s.name: s for s in SCHEMES.values()}


# SGTIN-96 decoding memo, keyed by the top 58 bits (header, filter, partition, prefix, item reference), which
# decide everything but the serial: a store reads many items of few products, each product under one or two filter
# values. Bounded: when full it is cleared and refilled, so it stays under ~50 MB whatever is read.
_MEMO_LIMIT = 1 << 17
_memo: dict[int, tuple[int, str, str, str, str, tuple[str, str]]] = {}
sgtin96_memo = _memo.get


def _words_hex(value: int, bits: int) -> str:
    """Upper-case hex of a `bits`-bit value padded with zero bits to whole 16-bit words, as readers report it."""
    padded = -(-bits // 16) * 16
    return f"{value << (padded - bits):0{padded // 4}X}"


def _unpad(value: int, total_bits: int, scheme: FixedScheme, hex_str: str) -> tuple[int, tuple[str, ...]]:
    """Check the length, strip the word padding and say whether it was non-zero."""
    need = scheme.bits
    most = -(-need // 16) * 16
    if not need <= total_bits <= most:
        raise MalformedEpc(
            f"{scheme.name} is {need} bits: expected {-(-need // 4)} to {most // 4} hex digits, got {total_bits // 4}",
            hex=hex_str,
        )
    pad = total_bits - need
    warnings: tuple[str, ...] = ()
    if value & ((1 << pad) - 1):
        warnings = (f"non-zero padding bits after bit {need} of {scheme.name}",)
    return value >> pad, warnings


def decode_fixed(value: int, total_bits: int, scheme: FixedScheme, hex_str: str) -> Epc:
    """Decode one of the fixed-length schemes from the integer value of all its hex digits."""
    epc, warnings = _unpad(value, total_bits, scheme, hex_str)
    bits = scheme.bits
    row = scheme.table.by_value((epc >> (bits - 14)) & 7)
    flt = (epc >> (bits - 11)) & 7
    body_bits = bits - 14 - row.prefix_bits
    prefix = (epc >> body_bits) & ((1 << row.prefix_bits) - 1)
    if prefix >= 10**row.prefix_digits:
        raise InvalidEpc(f"company prefix field {prefix} has more than {row.prefix_digits} digits", hex=hex_str)
    cp = f"{prefix:0{row.prefix_digits}d}"
    tail_bits = bits - 14 - row.prefix_bits - row.other_bits
    other = (epc >> tail_bits) & ((1 << row.other_bits) - 1)
    tail = epc & ((1 << tail_bits) - 1)
    family = scheme.name.split("-")[0]
    try:
        if family == "giai":
            return _giai(hex_str, scheme, flt, cp, row, other, warnings)
        if other >= 10**row.other_digits and not (row.other_digits == 0 and other == 0):
            raise InvalidEpc(f"{family} reference field {other} has more than {row.other_digits} digits")
        ref = f"{other:0{row.other_digits}d}" if row.other_digits else ""
        if scheme.tail_chars:
            text = decode_string(tail, scheme.tail_bits, max_chars=scheme.tail_chars)
        elif family == "sscc":
            if tail:
                raise InvalidEpc("the 24 reserved bits of SSCC-96 must be zero")
            text = ""
        else:
            text = str(tail)
    except InvalidEpc as exc:
        raise InvalidEpc(exc.reason, hex=hex_str) from None
    epc_obj = _build(hex_str.upper(), scheme.name, flt, family, cp, ref, text, warnings)
    if scheme.header == 0x30 and not warnings and total_bits == 96:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        gtin = epc_obj.gtin or ""
        _memo[value >> 38] = (flt, f"(01){gtin}(21)", f"urn:epc:id:sgtin:{cp}.{ref}.", cp, gtin, ("01", gtin))
    return epc_obj


def _build(
    hex_str: str, name: str, flt: int, family: str, cp: str, ref: str, text: str, warnings: tuple[str, ...]
) -> Epc:
    """The Epc of a decoded SGTIN, SSCC, SGLN or GRAI from its URN parts."""
    if family == "sgtin":
        digits = ref[:1] + cp + ref[1:]
        gtin = f"{digits}{check_digit_of(int(digits))}"
        ais: tuple[tuple[str, str], ...] = (("01", gtin), ("21", text))
        return Epc(hex_str, name, flt, f"(01){gtin}(21){text}", f"urn:epc:id:sgtin:{cp}.{ref}.{uri_escape(text)}",
                   cp, gtin, text, ais, warnings=warnings)  # fmt: skip
    if family == "sscc":
        digits = ref[:1] + cp + ref[1:]
        sscc = f"{digits}{check_digit_of(int(digits))}"
        return Epc(hex_str, name, flt, f"(00){sscc}", f"urn:epc:id:sscc:{cp}.{ref}", cp, None, None,
                   (("00", sscc),), warnings=warnings)  # fmt: skip
    if family == "sgln":
        gln = f"{cp}{ref}{check_digit_of(int(cp + ref))}"
        # Extension 0 stands for the GLN itself, in both SGLN encodings (section 14.6.3).
        ais = (("414", gln),) if text == "0" else (("414", gln), ("254", text))
        return Epc(hex_str, name, flt, "".join(f"({a}){v}" for a, v in ais),
                   f"urn:epc:id:sgln:{cp}.{ref}.{uri_escape(text)}", cp, None, None, ais,
                   warnings=warnings)  # fmt: skip
    grai = f"0{cp}{ref}{check_digit_of(int(cp + ref))}{text}"
    return Epc(hex_str, name, flt, f"(8003){grai}", f"urn:epc:id:grai:{cp}.{ref}.{uri_escape(text)}", cp, None,
               text, (("8003", grai),), warnings=warnings)  # fmt: skip


def _giai(
    hex_str: str, scheme: FixedScheme, flt: int, cp: str, row: tables.Partition, other: int, warnings: tuple[str, ...]
) -> Epc:
    """GIAI-96 (unpadded integer asset reference) or GIAI-202 (7-bit string)."""
    integer = scheme.bits == 96
    ref = str(other) if integer else decode_string(other, row.other_bits, max_chars=row.other_digits)
    giai = cp + ref
    return Epc(hex_str.upper(), scheme.name, flt, f"(8004){giai}", f"urn:epc:id:giai:{cp}.{uri_escape(ref)}", cp,
               None, None, (("8004", giai),), warnings=warnings)  # fmt: skip


def _integer(text: str, bits: int, what: str) -> int:
    """A serial for an integer field: digits, no leading zero, below 2**bits (TDS 14.3.1, Table 12-2)."""
    if not (text.isdigit() and text.isascii()) or (len(text) > 1 and text[0] == "0"):
        raise InvalidEpc(f"{what} {text!r} must be digits without leading zeros for this scheme")
    number = int(text)
    if number >= 1 << bits:
        raise InvalidEpc(f"{what} {text} does not fit in {bits} bits (use the alphanumeric scheme)")
    return number


def encode_fixed(name: str, flt: int, company_prefix: str, reference: str, tail: str) -> str:
    """Encode URN parts (prefix, the partitioned reference, the serial/extension) into word-padded hex."""
    scheme = BY_NAME[name]
    if not 0 <= flt <= 7:
        raise InvalidEpc(f"filter value {flt} is not 0-7")
    if not (company_prefix.isdigit() and company_prefix.isascii()):
        raise InvalidEpc(f"company prefix {company_prefix!r} must be digits")
    row = scheme.table.by_prefix_length(len(company_prefix))
    family = name.split("-")[0]
    if family == "giai":
        if scheme.bits == 96:
            other = _integer(reference, row.other_bits, "asset reference")
        else:
            other = encode_string(reference, row.other_bits)
            if len(reference) > row.other_digits:
                raise InvalidEpc(f"asset reference longer than {row.other_digits} characters")
        tail_value, tail_bits = 0, 0
    else:
        digits_ok = reference.isascii() and (reference.isdigit() or reference == "")
        if len(reference) != row.other_digits or not digits_ok:
            raise InvalidEpc(f"{family} reference {reference!r} must be {row.other_digits} digits for this prefix")
        other = int(reference or "0")
        tail_bits = scheme.tail_bits
        if scheme.tail_chars:
            tail_value = encode_string(tail, tail_bits)
        elif family == "sscc":
            tail_value = 0
        else:
            tail_value = _integer(tail, tail_bits, "serial" if family != "sgln" else "extension")
    value = (scheme.header << 3 | flt) << 3 | row.value
    value = (value << row.prefix_bits | int(company_prefix)) << row.other_bits | other
    value = value << tail_bits | tail_value
    return _words_hex(value, scheme.bits)
