"""EPC decode fed hex with every header the package knows, bodies of every length, and any text: only EpcError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silentgw.gateway.identity import Epc, EpcError, UnsupportedEpc, decode
from silentgw.gateway.identity.binary import SCHEMES
from silentgw.gateway.identity.plus import HEADERS
from tests.fuzz.harness import COUNTS, fuzzed

_headers = st.sampled_from([*SCHEMES, *HEADERS, 0x00, 0xE2, 0x2C, 0x35, 0xFF, 0x01])
_bodies = st.integers(0, 400).flatmap(lambda bits: st.integers(0, 2**bits - 1).map(lambda v: (v, bits)))


def _hex(header: int, body: tuple[int, int], pad: int) -> str:
    value, bits = body
    digits = (8 + bits + 3) // 4 + pad
    rest = 4 * digits - 8  # bits after the header: the body, then zero padding to whole hex digits
    return f"{(header << rest) | (value << (rest - bits)):0{digits}X}"


epc_texts = st.one_of(
    st.builds(_hex, _headers, _bodies, st.integers(0, 4)),
    st.builds(_hex, _headers, _bodies, st.integers(0, 4)).map(str.lower),
    st.text("0123456789ABCDEFabcdef", max_size=130),
    st.text(max_size=40),
    st.sampled_from(["30", "3", " 3074257BF7194E4000001A85", "0x3074257BF7194E4000001A8", "+3074257BF7194E4000001A85"]),
)


@fuzzed
@given(text=epc_texts, strict=st.booleans())
def test_epc_decode(text: str, strict: bool) -> None:
    COUNTS["epc decode"] += 1
    try:
        result = decode(text, strict=strict)
    except EpcError as exc:
        reason = exc.reason
        assert reason
        return
    assert isinstance(result, Epc | UnsupportedEpc)
    result.to_dict()
    if isinstance(result, Epc):
        assert result.key
        assert result.digital_link.startswith("https://id.gs1.org/")
        assert result.tag_uri is None or result.tag_uri.startswith("urn:epc:tag:")
