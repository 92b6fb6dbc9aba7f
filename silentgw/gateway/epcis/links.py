"""Identifiers in one canonical form: EPC URIs as GS1 Digital Link URIs on id.gs1.org (CBV 2.0 section 8.9, rules
17 and 18 of the event hash; TDS 2.x section 7 for the correspondence between EPC URIs and GS1 keys).

Two spellings of one identity must compare equal, both when an event is hashed (``urn:epc:id:sgtin:...`` and
``https://id.gs1.org/01/...`` give the same hash) and when a query names an EPC or a location. So every URI goes
through :func:`canonical` first:

- a pure identity URN (``urn:epc:id:...``), an EPC class (``urn:epc:class:lgtin:...``) or a GTIN pattern
  (``urn:epc:idpat:sgtin:CP.IR.*``) becomes the Digital Link of the same GS1 key;
- a Digital Link on any host becomes the *constrained* canonical one: host ``https://id.gs1.org``, no query, and only
  the primary key with its finest qualifier (``01/21`` rather than ``01/10/21``);
- anything else is returned as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from silentgw.gateway.identity.charset import uri_unescape
from silentgw.gateway.identity.errors import EpcError
from silentgw.gateway.identity.gs1 import DIGITAL_LINK_HOST, check_digit, digital_link

__all__ = ["canonical", "is_pattern", "urn_to_digital_link"]

# The qualifiers each primary key keeps in the constrained form, finest first: only the first one present is kept.
_QUALIFIERS: dict[str, tuple[str, ...]] = {
    "00": (), "01": ("21", "10", "235"), "253": (), "255": (), "401": (), "402": (), "414": ("254",), "417": (),
    "8003": (), "8004": (), "8006": ("21", "10"), "8010": ("8011",), "8017": (), "8018": (),
}  # fmt: skip
# Keys of fixed digits, to tell a Digital Link from a URL that merely has "/00/" in its path.
_DIGITS = {"00": (18,), "01": (8, 12, 13, 14), "414": (13,), "417": (13,), "402": (17,), "8017": (18,), "8018": (18,)}

Ais = list[tuple[str, str]]


def canonical(uri: str) -> str:
    """``uri`` in the canonical form two spellings of an identity share (see the module docstring)."""
    if uri.startswith("urn:epc:"):
        return urn_to_digital_link(uri) or uri
    if uri.startswith(("http://", "https://")):
        return _constrained(uri) or uri
    return uri


def is_pattern(uri: str) -> bool:
    """Whether ``uri`` names a class of EPCs (a GTIN pattern or an EPC class) rather than one EPC."""
    return uri.startswith(("urn:epc:idpat:", "urn:epc:class:"))


def urn_to_digital_link(urn: str) -> str | None:
    """The Digital Link of an EPC URN (pure identity, class or GTIN pattern), or None for one not understood."""
    kind, _, rest = urn.removeprefix("urn:epc:").partition(":")
    scheme, _, body = rest.partition(":")
    build = _BUILDERS.get((kind, scheme))
    if build is None:
        return None
    try:
        ais = build([uri_unescape(part) for part in body.split(".")])
    except (EpcError, ValueError, IndexError):
        return None
    return digital_link(ais) if ais else None


def _constrained(uri: str) -> str | None:
    """A Digital Link on any host, constrained (host, no query, finest qualifier), or None if it is not one."""
    segments = [s for s in urlsplit(uri).path.split("/") if s]
    for start in range(len(segments) - 1):
        key = segments[start]
        if key not in _QUALIFIERS or (len(segments) - start) % 2:
            continue
        value = segments[start + 1]
        if key in _DIGITS and not (value.isdigit() and len(value) in _DIGITS[key]):
            continue
        if key == "01":
            value = value.zfill(14)
        pairs = dict(zip(segments[start + 2 :: 2], segments[start + 3 :: 2], strict=True))
        path = f"{DIGITAL_LINK_HOST}/{key}/{value}"
        finest = next((q for q in _QUALIFIERS[key] if q in pairs), None)
        return path if finest is None else f"{path}/{finest}/{pairs[finest]}"
    return None


def _keyed(digits: str) -> str:
    """Digits followed by their GS1 check digit."""
    if not digits.isdigit():
        raise ValueError(f"{digits!r} is not all digits")
    return digits + check_digit(digits)


def _gtin(cp: str, ref: str) -> str:
    """The GTIN-14 of a company prefix and an item reference whose first digit is the indicator (TDS 7.1)."""
    if len(cp) + len(ref) != 13:
        raise ValueError("company prefix and item reference must have 13 digits together")
    return _keyed(ref[0] + cp + ref[1:])


def _sgtin(p: list[str]) -> Ais:
    return [("01", _gtin(p[0], p[1])), ("21", p[2])]


def _sscc(p: list[str]) -> Ais:
    return [("00", _keyed(p[1][0] + p[0] + p[1][1:]))]


def _sgln(p: list[str]) -> Ais:
    gln = [("414", _keyed(p[0] + p[1]))]
    return gln if p[2] == "0" else [*gln, ("254", p[2])]


def _grai(p: list[str]) -> Ais:
    return [("8003", "0" + _keyed(p[0] + p[1]) + p[2])]


def _giai(p: list[str]) -> Ais:
    return [("8004", p[0] + p[1])]


def _gdti(p: list[str]) -> Ais:
    return [("253", _keyed(p[0] + p[1]) + p[2])]


def _sgcn(p: list[str]) -> Ais:
    return [("255", _keyed(p[0] + p[1]) + p[2])]


def _pgln(p: list[str]) -> Ais:
    return [("417", _keyed(p[0] + p[1]))]


def _gsrn(p: list[str]) -> Ais:
    return [("8018", _keyed(p[0] + p[1]))]


def _gsrnp(p: list[str]) -> Ais:
    return [("8017", _keyed(p[0] + p[1]))]


def _gsin(p: list[str]) -> Ais:
    return [("402", _keyed(p[0] + p[1]))]


def _ginc(p: list[str]) -> Ais:
    return [("401", p[0] + p[1])]


def _cpi(p: list[str]) -> Ais:
    return [("8010", p[0] + p[1]), ("8011", p[2])]


def _itip(p: list[str]) -> Ais:
    return [("8006", _gtin(p[0], p[1]) + p[2] + p[3]), ("21", p[4])]


def _upui(p: list[str]) -> Ais:
    return [("01", _gtin(p[0], p[1])), ("235", p[2])]


def _lgtin(p: list[str]) -> Ais:
    return [("01", _gtin(p[0], p[1])), ("10", p[2])]


def _gtin_pattern(p: list[str]) -> Ais:
    # Only a pattern fixing the whole GTIN has a Digital Link: CP.IR.* is every serial of one GTIN.
    return [("01", _gtin(p[0], p[1]))] if p[2:] == ["*"] and "*" not in p[:2] else []


_BUILDERS: dict[tuple[str, str], Callable[[list[str]], Ais]] = {
    ("id", "sgtin"): _sgtin, ("id", "sscc"): _sscc, ("id", "sgln"): _sgln, ("id", "grai"): _grai,
    ("id", "giai"): _giai, ("id", "gdti"): _gdti, ("id", "sgcn"): _sgcn, ("id", "pgln"): _pgln,
    ("id", "gsrn"): _gsrn, ("id", "gsrnp"): _gsrnp, ("id", "gsin"): _gsin, ("id", "ginc"): _ginc,
    ("id", "cpi"): _cpi, ("id", "itip"): _itip, ("id", "upui"): _upui, ("class", "lgtin"): _lgtin,
    ("idpat", "sgtin"): _gtin_pattern,
}  # fmt: skip
