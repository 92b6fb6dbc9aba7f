"""Property tests: decode(encode(x)) == x for every scheme; random input never crashes the decoder."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from silentgw.gateway.identity import Epc, EpcError, UnsupportedEpc, decode, encode, encode_ais
from silentgw.gateway.identity.charset import GS1_CHARS, uri_escape
from silentgw.gateway.identity.gs1 import check_digit

gs1_text = st.text(alphabet=sorted(GS1_CHARS), min_size=1, max_size=16)
prefix = st.integers(6, 12).flatmap(lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n))
filters = st.integers(0, 7)


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


@given(cp=prefix, data=st.data(), flt=filters, serial=st.integers(0, (1 << 38) - 1))
def test_sgtin96_roundtrip(cp: str, data: st.DataObject, flt: int, serial: int) -> None:
    ref = data.draw(digits(13 - len(cp)))
    tag = f"urn:epc:tag:sgtin-96:{flt}.{cp}.{ref}.{serial}"
    epc = decode(encode(tag))
    assert isinstance(epc, Epc)
    assert epc.tag_uri == tag
    assert decode(encode(tag)) == epc  # the memoised path gives the same value


@given(cp=prefix, data=st.data(), flt=filters, text=gs1_text)
def test_long_schemes_roundtrip(cp: str, data: st.DataObject, flt: int, text: str) -> None:
    for scheme, other in (("sgtin-198", 13), ("sgln-195", 12), ("grai-170", 12)):
        ref = data.draw(digits(other - len(cp)))
        tag = f"urn:epc:tag:{scheme}:{flt}.{cp}.{ref}.{uri_escape(text)}"
        epc = decode(encode(tag))
        assert isinstance(epc, Epc)
        assert epc.tag_uri == tag
    asset = text[: 30 - len(cp)]
    tag = f"urn:epc:tag:giai-202:{flt}.{cp}.{uri_escape(asset[:18])}"
    epc = decode(encode(tag))
    assert isinstance(epc, Epc)
    assert epc.tag_uri == tag


@given(cp=prefix, data=st.data(), flt=filters)
def test_numeric_schemes_roundtrip(cp: str, data: st.DataObject, flt: int) -> None:
    tags = [
        f"urn:epc:tag:sscc-96:{flt}.{cp}.{data.draw(digits(17 - len(cp)))}",
        f"urn:epc:tag:sgln-96:{flt}.{cp}.{data.draw(digits(12 - len(cp)))}.{data.draw(st.integers(0, 2**41 - 1))}",
        f"urn:epc:tag:grai-96:{flt}.{cp}.{data.draw(digits(12 - len(cp)))}.{data.draw(st.integers(0, 2**38 - 1))}",
        f"urn:epc:tag:giai-96:{flt}.{cp}.{data.draw(st.integers(0, (1 << 42) - 1))}",
    ]
    for tag in tags:
        epc = decode(encode(tag))
        assert isinstance(epc, Epc)
        assert epc.tag_uri == tag


serials = st.one_of(
    gs1_text,
    st.text(alphabet="0123456789", min_size=1, max_size=20),
    st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=20),
    st.text(alphabet="0123456789abcdef", min_size=1, max_size=20),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:", min_size=1, max_size=20),
)


date_ais = st.sampled_from(["11", "13", "15", "16", "17", "7006", "7007"])


@given(body=digits(13), serial=serials, flt=filters, date=date_ais, yy=st.integers(0, 99), mm=st.integers(1, 12),
       dd=st.integers(0, 28))  # fmt: skip
def test_plus_roundtrip(body: str, serial: str, flt: int, date: str, yy: int, mm: int, dd: int) -> None:
    gtin = body + check_digit(body)
    ais = {"01": gtin, "21": serial}
    epc = decode(encode_ais(ais, scheme="sgtin+", filter=flt))
    assert isinstance(epc, Epc)
    assert (epc.scheme, epc.filter, dict(epc.ais)) == ("sgtin+", flt, ais)
    when = (date, f"{yy:02d}{mm:02d}{dd:02d}")
    dated = decode(encode_ais(ais, scheme="dsgtin+", filter=flt, date=when))
    assert isinstance(dated, Epc)
    assert (dated.date, dated.key) == (when, epc.key)
    sscc = "0" + body[:16] if len(body) >= 16 else (body + "0000")[:17]
    sscc += check_digit(sscc)
    epc = decode(encode_ais({"00": sscc}, scheme="sscc+", filter=flt))
    assert isinstance(epc, Epc)
    assert epc.sscc == sscc
    giai = body[:4] + serial[:26]
    epc = decode(encode_ais({"8004": giai}, scheme="giai+", filter=flt))
    assert isinstance(epc, Epc)
    assert epc.giai == giai


@settings(max_examples=500)
@given(st.text(alphabet="0123456789ABCDEFabcdef", min_size=0, max_size=70))
def test_random_hex_never_crashes(text: str) -> None:
    try:
        result = decode(text)
    except EpcError:
        return
    assert isinstance(result, (Epc, UnsupportedEpc))
    if isinstance(result, Epc):
        assert result.key
        assert result.digital_link.startswith("https://id.gs1.org/")


@settings(max_examples=300)
@given(st.sampled_from(["30", "36", "31", "32", "39", "33", "37", "34", "38", "F7", "FB", "F9", "F2", "F1", "FA"]),
       st.text(alphabet="0123456789ABCDEF", min_size=0, max_size=60))  # fmt: skip
def test_random_bodies_never_crash(header: str, body: str) -> None:
    try:
        result = decode(header + body)
    except EpcError:
        return
    assert isinstance(result, Epc)
    result.to_dict()


@given(st.text(max_size=40))
def test_random_text_never_crashes(text: str) -> None:
    with contextlib.suppress(EpcError):
        decode(text)
