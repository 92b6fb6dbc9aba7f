"""GS1 keys: check digits, element strings and GS1 Digital Link URIs (GS1 General Specifications 7.9; GS1 Digital
Link 1.2 URI syntax; TDS 2.x section 7 for the correspondence between EPCs and GS1 keys).

An element string is `(AI)value...`, values written plainly. A Digital Link URI puts the primary key and its
qualifiers in the path (`https://id.gs1.org/01/{gtin}/21/{serial}`) and data attributes in the query (`?17=220630`,
TDS E.3); every character outside A-Z a-z 0-9 `-` `.` `_` is percent-encoded, as the GS1 Digital Link grammar
requires for the 82-character set (e.g. `/` -> `%2F`).
"""

from __future__ import annotations

from collections.abc import Iterable

from silentgw.gateway.identity.errors import InvalidEpc

__all__ = ["DIGITAL_LINK_HOST", "check_digit", "check_digit_of", "digital_link", "element_string", "percent_encode"]

DIGITAL_LINK_HOST = "https://id.gs1.org"

# Weighted digit sums of every 4-digit chunk, weights 1,3,1,3 left to right: a GS1 check digit weighs the digit
# next to it by 3, then alternates, so even-length chunks keep their weights wherever they sit.
_CHUNK_SUM = [(x // 1000) + 3 * (x // 100 % 10) + (x // 10 % 10) + 3 * (x % 10) for x in range(10000)]
_CHECK = [(10 - total % 10) % 10 for total in range(512)]

# Unreserved characters of RFC 3986 that the GS1 Digital Link grammar leaves unencoded.
_DL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._")


def check_digit_of(number: int) -> int:
    """The GS1 check digit (mod 10, weights 3,1,...) of the key's digits before it, given as an integer."""
    total = 0
    while number:
        total += _CHUNK_SUM[number % 10000]
        number //= 10000
    return _CHECK[total]


def check_digit(digits: str) -> str:
    """The GS1 check digit of a string of digits (the key without its check digit)."""
    if not (digits.isdigit() and digits.isascii()):
        raise InvalidEpc(f"{digits!r} is not all digits")
    return str(check_digit_of(int(digits)))


def percent_encode(value: str) -> str:
    """Percent-encode an AI value for a GS1 Digital Link path or query (upper-case hex)."""
    if _DL_SAFE.issuperset(value):
        return value
    return "".join(char if char in _DL_SAFE else f"%{ord(char):02X}" for char in value)


def element_string(ais: Iterable[tuple[str, str]]) -> str:
    """`(AI)value` for each pair, in order."""
    return "".join(f"({ai}){value}" for ai, value in ais)


def digital_link(path: Iterable[tuple[str, str]], query: Iterable[tuple[str, str]] = ()) -> str:
    """A GS1 Digital Link URI on id.gs1.org: key and qualifiers in the path, attributes in the query."""
    uri = DIGITAL_LINK_HOST + "".join(f"/{ai}/{percent_encode(value)}" for ai, value in path)
    params = "&".join(f"{ai}={percent_encode(value)}" for ai, value in query)
    return f"{uri}?{params}" if params else uri
