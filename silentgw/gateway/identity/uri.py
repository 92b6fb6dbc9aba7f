"""Parsing the textual forms of an EPC: pure identity URNs, tag URIs (TDS 2.x sections 6.3 and 12.4) and GS1
element strings, and converting between URN parts and GS1 Application Identifiers (section 7).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from silentgw.gateway.identity.charset import uri_unescape
from silentgw.gateway.identity.errors import InvalidEpc, MalformedEpc
from silentgw.gateway.identity.gs1 import check_digit_of

__all__ = ["Source", "ais_to_parts", "parse", "parts_to_ais"]

FAMILY_OF_AI = {"01": "sgtin", "00": "sscc", "414": "sgln", "8003": "grai", "8004": "giai"}
_FIXED_AIS = {"00": 18, "01": 14, "414": 13, "11": 6, "13": 6, "15": 6, "16": 6, "17": 6, "7006": 6, "7007": 6}
_VARIABLE_AIS = ("21", "254", "8003", "8004")
_AI_OPEN = re.compile(r"\((00|01|414|11|13|15|16|17|7006|7007|21|254|8003|8004)\)")
_URN = re.compile(r"urn:epc:(id|tag):([a-z]+)(?:-(\d+))?:(.*)")
_PARTS = {"sgtin": 3, "sscc": 2, "sgln": 3, "grai": 3, "giai": 2}
_DIGITS = re.compile(r"\d*")


class Source(NamedTuple):
    """A parsed EPC text: family, optional tag scheme and filter, and the AIs or URN parts."""

    family: str
    scheme: str | None
    filter: int | None
    parts: tuple[str, ...] | None
    """URN parts: company prefix, reference, then serial/extension (URI-escaped as written)."""
    ais: dict[str, str] | None


def parse(text: str) -> Source:
    """Parse a pure identity URN, a tag URI or a GS1 element string."""
    if text.startswith("("):
        ais = _element_string(text)
        family = next((FAMILY_OF_AI[ai] for ai in ais if ai in FAMILY_OF_AI), None)
        if family is None:
            raise MalformedEpc(f"no GS1 key AI in {text!r}")
        return Source(family, None, None, None, ais)
    match = _URN.fullmatch(text)
    if match is None:
        raise MalformedEpc(f"{text!r} is neither an EPC URN, a tag URI nor a GS1 element string")
    kind, family, length, body = match.groups()
    if family not in _PARTS:
        raise MalformedEpc(f"EPC scheme {family!r} is not supported")
    scheme = flt = None
    if kind == "tag":
        if length is None:
            raise MalformedEpc(f"tag URI {text!r} needs a binary scheme such as {family}-96")
        scheme = f"{family}-{length}"
        head, _, body = body.partition(".")
        if not (head.isdigit() and head.isascii() and len(head) == 1):
            raise MalformedEpc(f"tag URI {text!r} has no single-digit filter value")
        flt = int(head)
    elif length is not None:
        raise MalformedEpc(f"pure identity URN {text!r} takes no binary scheme")
    parts = tuple(body.split(".", _PARTS[family] - 1))
    if len(parts) != _PARTS[family] or not all(_DIGITS.fullmatch(p) for p in parts[: 2 if family != "giai" else 1]):
        raise MalformedEpc(f"{text!r} does not have the {family} URN syntax (section 6.3)")
    if not parts[0] or not parts[-1]:
        raise MalformedEpc(f"{text!r} has an empty field")
    return Source(family, scheme, flt, parts, None)


def _element_string(text: str) -> dict[str, str]:
    """`(AI)value...` for the AIs of the EPC keys and the DSGTIN+ dates."""
    ais: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _AI_OPEN.match(text, pos)
        if match is None:
            raise MalformedEpc(f"element string {text!r}: no known (AI) at position {pos}")
        ai = match.group(1)
        start = match.end()
        if ai in _FIXED_AIS:
            end = start + _FIXED_AIS[ai]
        else:
            following = _AI_OPEN.search(text, start)
            end = len(text) if following is None else following.start()
        value = text[start:end]
        if not value or (ai in _FIXED_AIS and not (len(value) == _FIXED_AIS[ai] and value.isdigit())):
            raise MalformedEpc(f"element string {text!r}: bad value for ({ai})")
        if ai in ais:
            raise MalformedEpc(f"element string {text!r} repeats ({ai})")
        ais[ai] = value
        pos = end
    return ais


def _key(digits: str) -> str:
    """Append the check digit to a key's digits."""
    return f"{digits}{check_digit_of(int(digits))}"


def parts_to_ais(family: str, parts: tuple[str, ...]) -> dict[str, str]:
    """URN parts to the GS1 AIs of the same identity (section 7)."""
    cp, ref = parts[0], parts[1]
    if family == "sgtin":
        if len(cp) + len(ref) != 13:
            raise InvalidEpc("SGTIN company prefix and item reference must have 13 digits together")
        return {"01": _key(ref[0] + cp + ref[1:]), "21": uri_unescape(parts[2])}
    if family == "sscc":
        if len(cp) + len(ref) != 17:
            raise InvalidEpc("SSCC company prefix and serial reference must have 17 digits together")
        return {"00": _key(ref[0] + cp + ref[1:])}
    if family == "sgln":
        if len(cp) + len(ref) != 12:
            raise InvalidEpc("SGLN company prefix and location reference must have 12 digits together")
        extension = uri_unescape(parts[2])
        gln = {"414": _key(cp + ref)}
        return gln if extension == "0" else {**gln, "254": extension}
    if family == "grai":
        if len(cp) + len(ref) != 12:
            raise InvalidEpc("GRAI company prefix and asset type must have 12 digits together")
        return {"8003": "0" + _key(cp + ref) + uri_unescape(parts[2])}
    return {"8004": cp + uri_unescape(ref)}


def ais_to_parts(family: str, ais: dict[str, str], prefix_length: int) -> tuple[str, str, str]:
    """GS1 AIs to URN parts (company prefix, reference, plain serial/extension) for a prefix length."""
    length = prefix_length
    if not 6 <= length <= 12:
        raise InvalidEpc(f"company prefix length {length} is not 6-12")
    if family == "sgtin":
        gtin = _verified(ais["01"], 14, "GTIN")
        return gtin[1 : 1 + length], gtin[0] + gtin[1 + length : 13], ais["21"]
    if family == "sscc":
        sscc = _verified(ais["00"], 18, "SSCC")
        return sscc[1 : 1 + length], sscc[0] + sscc[1 + length : 17], ""
    if family == "sgln":
        gln = _verified(ais["414"], 13, "GLN")
        return gln[:length], gln[length:12], ais.get("254", "0")
    if family == "grai":
        grai = ais["8003"]
        _verified(grai[1:14], 13, "GRAI")
        if grai[:1] != "0" or len(grai) < 15:
            raise InvalidEpc(f"GRAI {grai!r} must be 0, 13 digits and a serial")
        return grai[1 : 1 + length], grai[1 + length : 13], grai[14:]
    giai = ais["8004"]
    if not giai[:length].isdigit() or len(giai) <= length:
        raise InvalidEpc(f"GIAI {giai!r} does not start with a {length}-digit company prefix")
    return giai[:length], giai[length:], ""


def _verified(key: str, digits: int, what: str) -> str:
    """A GS1 key of `digits` digits with a correct check digit."""
    if len(key) != digits or not (key.isdigit() and key.isascii()):
        raise InvalidEpc(f"{what} {key!r} must be {digits} digits")
    if check_digit_of(int(key[:-1])) != int(key[-1]):
        raise InvalidEpc(f"{what} {key} has a wrong check digit")
    return key
