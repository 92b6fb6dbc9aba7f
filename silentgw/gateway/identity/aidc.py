"""The encoding methods TDS 2.0 introduced for the "+" schemes (TDS 2.x section 14.5).

- Fixed-Length Numeric (14.5.4): four bits per digit, 0-9 only.
- Delimited/Terminated Numeric (14.5.5): digits, then 1111 (end) or 1110 (the rest follows alphanumerically).
- Variable-length alphanumeric (14.5.6): a 3-bit encoding indicator (Table E), a length indicator whose width comes
  from Table F (5 bits for AIs 21, 254, 8003's serial and 8004's remainder), then the characters: 0 numeric string
  (ceil(L*log2(10)) bits, leading zeros kept), 1 upper-case hex, 2 lower-case hex, 3 file-safe base 64,
  4 7-bit ASCII (the 82 GS1 characters), 5 URN Code 40 (16 bits per 3 characters); 6 and 7 are reserved.
- Prioritised Date (14.5.3): a 4-bit date type (Table in 14.5.3) and YYMMDD in 7+4+5 bits.
"""

from __future__ import annotations

from silentgw.gateway.identity.charset import GS1_CHARS
from silentgw.gateway.identity.errors import InvalidEpc, MalformedEpc

__all__ = ["DATE_TYPES", "BitReader", "BitWriter", "check_date", "encode_alphanumeric"]

_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_BASE64_INDEX = {char: index for index, char in enumerate(_BASE64)}
_URN40 = "\0ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:0123456789"
_URN40_INDEX = {char: index for index, char in enumerate(_URN40) if index}
_UPPER_HEX = frozenset("0123456789ABCDEF")
_LOWER_HEX = frozenset("0123456789abcdef")

#: Prioritised date type indicator -> GS1 AI (section 14.5.3); other values are reserved.
DATE_TYPES = {0: "11", 1: "13", 2: "15", 3: "16", 4: "17", 5: "7006", 6: "7007"}
DATE_AIS = {ai: code for code, ai in DATE_TYPES.items()}
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _numeric_bits(length: int) -> int:
    """Bits for a numeric string of `length` digits: ceil(L*log2(10)), Table B, without floating point."""
    return int(10**length - 1).bit_length()


def check_date(yy: int, mm: int, dd: int) -> str:
    """YYMMDD after the checks of 14.5.3/14.5.8: month 01-12, day 00-31 and within the month (00: any day)."""
    if not 1 <= mm <= 12:
        raise InvalidEpc(f"date month {mm:02d} is not 01-12")
    # February 29th only in leap years; YY is 2000-2099 under GS1's sliding window for this century.
    days = 28 if mm == 2 and yy % 4 else _MONTH_DAYS[mm]
    if yy > 99 or dd > days:
        raise InvalidEpc(f"date {yy:02d}{mm:02d}{dd:02d} is not a calendar date")
    return f"{yy:02d}{mm:02d}{dd:02d}"


class BitReader:
    """Reads fields left to right from the bits of an EPC held as one integer."""

    __slots__ = ("hex", "pos", "total", "value")

    def __init__(self, value: int, total: int, hex_str: str) -> None:
        self.value = value
        self.total = total
        self.pos = 0
        self.hex = hex_str

    def read(self, bits: int) -> int:
        """The next `bits` bits as an unsigned integer."""
        end = self.pos + bits
        if end > self.total:
            raise MalformedEpc(f"the EPC ends after {self.total} bits, before its last field", hex=self.hex)
        self.pos = end
        return (self.value >> (self.total - end)) & ((1 << bits) - 1)

    def rest(self) -> tuple[int, int]:
        """The bits after the current position: (value, count)."""
        count = self.total - self.pos
        return self.value & ((1 << count) - 1), count

    def fixed_numeric(self, digits: int) -> str:
        """Fixed-Length Numeric (14.5.4): `digits` nibbles, each 0-9."""
        value = self.read(4 * digits)
        text = f"{value:0{digits}X}"
        if not text.isdigit():
            raise InvalidEpc(f"fixed-length numeric field {text} has a nibble above 9")
        return text

    def alphanumeric(self, max_chars: int, length_bits: int = 5) -> str:
        """Variable-length alphanumeric (14.5.6)."""
        indicator = self.read(3)
        length = self.read(length_bits)
        if length > max_chars:
            raise InvalidEpc(f"length indicator {length} exceeds {max_chars} characters")
        if indicator == 0:
            value = self.read(_numeric_bits(length)) if length else 0
            if value >= 10**length:
                raise InvalidEpc(f"numeric string value {value} has more than {length} digits")
            return f"{value:0{length}d}" if length else ""
        if indicator in (1, 2):
            value = self.read(4 * length) if length else 0
            text = f"{value:0{length}X}" if length else ""
            return text if indicator == 1 else text.lower()
        if indicator == 3:
            return "".join(_BASE64[self.read(6)] for _ in range(length))
        if indicator == 4:
            chars = [chr(self.read(7)) for _ in range(length)]
            if not GS1_CHARS.issuperset(chars):
                raise InvalidEpc("7-bit ASCII value has a character outside the GS1 82-character set")
            return "".join(chars)
        if indicator == 5:
            return self._urn_code40(length)
        raise InvalidEpc(f"encoding indicator {indicator} is reserved (Table E)")

    def _urn_code40(self, length: int) -> str:
        """URN Code 40 (14.5.6.5): r = 1600*i1 + 40*i2 + i3 + 1 in 16 bits per group of three."""
        out: list[str] = []
        for _ in range(-(-length // 3)):
            r = self.read(16) - 1
            if not 0 <= r < 64000:
                raise InvalidEpc(f"URN Code 40 group value {r + 1} is out of range")
            i1, i2, i3 = r // 1600, r // 40 % 40, r % 40
            if i1 == 0:
                raise InvalidEpc("URN Code 40 group starts with a pad character")
            out.append(_URN40[i1])
            out.extend(_URN40[i] for i in (i2, i3) if i)
        text = "".join(out)
        if len(text) != length:
            raise InvalidEpc(f"URN Code 40 value has {len(text)} characters, its length indicator says {length}")
        return text

    def delimited_numeric(self, max_chars: int) -> str:
        """Delimited/Terminated Numeric (14.5.5), the alphanumeric remainder after a 1110 delimiter."""
        digits: list[str] = []
        while True:
            nibble = self.read(4)
            if nibble < 10:
                digits.append(str(nibble))
            elif nibble == 0xF:
                text = "".join(digits)
                break
            elif nibble == 0xE:
                text = "".join(digits) + self.alphanumeric(max(max_chars - len(digits), 0))
                break
            else:
                raise InvalidEpc(f"nibble {nibble:X} in a delimited numeric field is neither 0-9, E nor F")
            if len(digits) > max_chars:
                raise InvalidEpc(f"delimited numeric field runs past {max_chars} characters")
        if not text or len(text) > max_chars:
            raise InvalidEpc(f"value of {len(text)} characters is outside 1-{max_chars}")
        return text

    def prioritised_date(self) -> tuple[str, str]:
        """Prioritised Date (14.5.3): (AI, YYMMDD)."""
        kind = self.read(4)
        if kind not in DATE_TYPES:
            raise InvalidEpc(f"date type indicator {kind} is reserved")
        yy, mm, dd = self.read(7), self.read(4), self.read(5)
        return DATE_TYPES[kind], check_date(yy, mm, dd)


class BitWriter:
    """Appends fields to a growing integer, left to right."""

    __slots__ = ("bits", "value")

    def __init__(self) -> None:
        self.value = 0
        self.bits = 0

    def write(self, value: int, bits: int) -> None:
        """Append `value` as `bits` bits."""
        if not 0 <= value < 1 << bits:
            raise InvalidEpc(f"value {value} does not fit in {bits} bits")
        self.value = self.value << bits | value
        self.bits += bits

    def fixed_numeric(self, text: str, digits: int) -> None:
        """Fixed-Length Numeric (14.5.4)."""
        if len(text) != digits or not (text.isdigit() and text.isascii()):
            raise InvalidEpc(f"{text!r} must be exactly {digits} digits")
        self.write(int(text, 16), 4 * digits)

    def alphanumeric(self, text: str, max_chars: int, length_bits: int = 5) -> None:
        """Variable-length alphanumeric (14.5.6), with the encoding that takes fewest bits."""
        indicator, value, bits = encode_alphanumeric(text, max_chars)
        self.write(indicator, 3)
        self.write(len(text), length_bits)
        self.write(value, bits)

    def delimited_numeric(self, text: str, max_chars: int) -> None:
        """Delimited/Terminated Numeric (14.5.5)."""
        if not 1 <= len(text) <= max_chars:
            raise InvalidEpc(f"value of {len(text)} characters is outside 1-{max_chars}")
        digits = len(text) - len(text.lstrip("0123456789"))
        for char in text[:digits]:
            self.write(int(char), 4)
        if digits == len(text):
            self.write(0xF, 4)
        else:
            self.write(0xE, 4)
            self.alphanumeric(text[digits:], max_chars - digits)


def encode_alphanumeric(text: str, max_chars: int) -> tuple[int, int, int]:
    """(encoding indicator, value, value bits) of the cheapest method of Table E that can carry `text`."""
    length = len(text)
    if not 1 <= length <= max_chars:
        raise InvalidEpc(f"value of {length} characters is outside 1-{max_chars}")
    chars = set(text)
    if not GS1_CHARS.issuperset(chars):
        raise InvalidEpc(f"{text!r} has characters outside the GS1 82-character set")
    options: list[tuple[int, int]] = [(7 * length, 4)]
    if text.isdigit():
        options.append((_numeric_bits(length), 0))
    if _UPPER_HEX.issuperset(chars):
        options.append((4 * length, 1))
    if _LOWER_HEX.issuperset(chars):
        options.append((4 * length, 2))
    if chars <= _BASE64_INDEX.keys():
        options.append((6 * length, 3))
    if chars <= _URN40_INDEX.keys():
        options.append((16 * -(-length // 3), 5))
    bits, indicator = min(options)
    if indicator == 0:
        return 0, int(text), bits
    if indicator in (1, 2):
        return indicator, int(text, 16), bits
    value = 0
    if indicator == 3:
        for char in text:
            value = value << 6 | _BASE64_INDEX[char]
    elif indicator == 4:
        for char in text:
            value = value << 7 | ord(char)
    else:
        for start in range(0, length, 3):
            group = [_URN40_INDEX[c] for c in text[start : start + 3]] + [0, 0]
            value = value << 16 | (1600 * group[0] + 40 * group[1] + group[2] + 1)
    return indicator, value, bits
