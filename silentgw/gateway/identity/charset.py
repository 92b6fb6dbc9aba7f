"""The GS1 character sets of EPC serials and their 7-bit binary form (TDS 2.x, Annex A and sections 14.3.2/14.4.2).

Table A-1 lists the 82 characters of the GS1 AI encodable character set 82 (ISO/IEC 646 invariant subset) allowed
in alphanumeric serials; seven of them are written as `%XX` escapes in EPC URIs. The "String" coding method
stores each character as its 7-bit ASCII code, left to right, padded with zero bits.
"""

from __future__ import annotations

import re

from silentgw.gateway.identity.errors import InvalidEpc, MalformedEpc

__all__ = [
    "GS1_CHARS",
    "decode_string",
    "encode_string",
    "is_gs1_text",
    "uri_escape",
    "uri_unescape",
]

#: The 82 characters of Table A-1 (GS1 AI encodable character set 82).
GS1_CHARS = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")

# Table A-1 "URI Form": these seven must be escaped in an EPC URI, every other character stands for itself.
_URI_ESCAPES = {'"': "%22", "%": "%25", "&": "%26", "/": "%2F", "<": "%3C", ">": "%3E", "?": "%3F"}
_URI_ESCAPE_TABLE = str.maketrans(_URI_ESCAPES)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def is_gs1_text(text: str) -> bool:
    """Whether every character of `text` is in the GS1 82-character set (empty text is not)."""
    return bool(text) and GS1_CHARS.issuperset(text)


def uri_escape(text: str) -> str:
    """Write `text` in EPC URI form (Table A-1), e.g. `32a/b` -> `32a%2Fb`."""
    return text.translate(_URI_ESCAPE_TABLE)


def uri_unescape(component: str) -> str:
    """Read an EPC URI component back to plain characters; escapes must name Table A-1 characters."""

    def unescape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        if char not in GS1_CHARS:
            raise InvalidEpc(f"escape %{match.group(1)} is not a GS1 character")
        return char

    text = _ESCAPE.sub(unescape, component)
    if "%" in _ESCAPE.sub("", component):
        raise MalformedEpc(f"bad %-escape in {component!r}")
    return text


def encode_string(text: str, bits: int) -> int:
    """Encode `text` as 7-bit characters padded with zero bits to `bits` (section 14.3.2)."""
    if not is_gs1_text(text):
        raise InvalidEpc(f"serial {text!r} must be 1+ characters of the GS1 82-character set")
    if 7 * len(text) > bits:
        raise InvalidEpc(f"serial {text!r} is longer than {bits // 7} characters")
    value = 0
    for char in text:
        value = (value << 7) | ord(char)
    return value << (bits - 7 * len(text))


def decode_string(value: int, bits: int, *, max_chars: int | None = None) -> str:
    """Decode a zero-padded 7-bit string field of `bits` bits (sections 14.4.2 and 14.4.5)."""
    count = bits // 7
    chars: list[str] = []
    for index in range(count):
        code = (value >> (bits - 7 * (index + 1))) & 0x7F
        if code == 0:
            break
        char = chr(code)
        if char not in GS1_CHARS:
            raise InvalidEpc(f"character 0x{code:02X} is not in the GS1 82-character set")
        chars.append(char)
    used = 7 * len(chars)
    # Everything after the last character (the terminating zero segments and the pad bits) must be zero.
    if value & ((1 << (bits - used)) - 1):
        raise InvalidEpc("non-zero bits after the end of the string")
    if not chars:
        raise InvalidEpc("empty string field")
    if max_chars is not None and len(chars) > max_chars:
        raise InvalidEpc(f"string of {len(chars)} characters exceeds {max_chars}")
    return "".join(chars)
