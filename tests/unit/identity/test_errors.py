"""Refusals, each with its reason (TDS 2.x Table 14-1 headers, section 14.4 decoding checks)."""

from __future__ import annotations

import pytest

from silentgw.gateway.identity import EpcError, InvalidEpc, MalformedEpc, UnsupportedEpc, decode, encode


@pytest.mark.parametrize(
    ("hex_", "error", "reason"),
    [
        ("000000000000000000000000", InvalidEpc, "unprogrammed"),
        ("E2801160600002054CC2096D", InvalidEpc, "TID class identifier"),
        ("7F0000000000000000000000", InvalidEpc, "reserved for future use"),
        ("307C257BF7194E4000001A85", InvalidEpc, "partition value 7"),  # partition bits 111
        ("30FFFFFFFFFFFFFFFFFFFFFF", InvalidEpc, "partition value 7"),
        (f"{((0x30 << 6) << 40 | 10**12) << 42:024X}", InvalidEpc, "company prefix field"),  # 10**12 in 40 bits
        ("3074257BF7194E4000001A8G", MalformedEpc, "not hexadecimal"),
        ("30 4257BF7194E4000001A85", MalformedEpc, "not hexadecimal"),
        ("0x74257BF7194E4000001A85", MalformedEpc, "not hexadecimal"),
        ("", MalformedEpc, "empty"),
        ("3074257BF7194E400000", MalformedEpc, "sgtin-96 is 96 bits"),  # 80 bits
        ("3074257BF7194E4000001A850000", MalformedEpc, "sgtin-96 is 96 bits"),  # past the word boundary
        ("311BA1B300CE0A6A83000001", InvalidEpc, "24 reserved bits"),
        # A 1 bit inside the 140-bit serial field, after the string's terminating zeros (section 14.4.2).
        (f"{int('3666C4409047E159B2C2BF1', 16) << 116 | 1 << 20:052X}", InvalidEpc, "non-zero bits after the end"),
        ("3600000000000000000000000000000000000000000000000000", InvalidEpc, "empty string"),
        ("F73795211411234538566CB0AFC4" + "0000000000", MalformedEpc, "bits follow it"),
        ("F737952114112345385", MalformedEpc, "ends after"),
        ("FB3F2CDE795211411234538566CB0AFC4", InvalidEpc, "date type indicator 15"),
        ("F737952114112345F8566CB0AFC4", InvalidEpc, "nibble above 9"),
        ("F73795211411234548566CB0AFC4", InvalidEpc, "check digit"),
        ("F7379521141123453C566CB0AFC4", InvalidEpc, "reserved (Table E)"),
    ],
)
def test_refused_with_reason(hex_: str, error: type[EpcError], reason: str) -> None:
    with pytest.raises(error) as caught:
        decode(hex_)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_unsupported_header_is_a_result_with_raw_hex() -> None:
    result = decode("2C74257BF7194E4000001A85")  # GDTI-96: assigned, not decoded here
    assert isinstance(result, UnsupportedEpc)
    assert result.hex == "2C74257BF7194E4000001A85"
    assert result.scheme is None
    assert "gdti-96" in result.reason
    assert result.to_dict()["error"] == result.reason


def test_strict_refuses_nonzero_padding() -> None:
    with pytest.raises(InvalidEpc, match="non-zero padding"):
        decode("3666C4409047E159B2C2BF100000000000000000000000000001", strict=True)


@pytest.mark.parametrize(
    ("source", "kwargs", "reason"),
    [
        ("urn:epc:id:sgtin:0614141.812345.0123", {"scheme": "sgtin-96"}, "without leading zeros"),
        ("urn:epc:id:sgtin:0614141.812345.274877906944", {"scheme": "sgtin-96"}, "does not fit in 38 bits"),
        ("urn:epc:id:sgtin:0614141.812345.6789", {"scheme": "sgtin-96", "filter": 8}, "filter value 8"),
        ("urn:epc:id:sgtin:06141.81234567.6789", {"scheme": "sgtin-96"}, "5-digit GS1 Company Prefix"),
        ("urn:epc:id:sgtin:0614141.81234.6789", {}, "13 digits together"),
        ("urn:epc:id:sgtin:0614141.812345.ab~c", {"scheme": "sgtin-198"}, "GS1 82-character set"),
        ("urn:epc:id:sgtin:0614141.812345.123456789012345678901", {"scheme": "sgtin-198"}, "longer than 20"),
        ("urn:epc:id:sscc:0614141.1234567890", {"scheme": "sgtin-96"}, "cannot be encoded as sgtin-96"),
        ("(01)80614141123459(21)6789", {"scheme": "sgtin+"}, "check digit"),
        ("(01)80614141123458(21)6789", {"scheme": "sgtin-96"}, "company prefix length"),
    ],
)
def test_encode_refusals(source: str, kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(EpcError) as caught:
        encode(source, **kwargs)  # type: ignore[arg-type]
    assert reason in caught.value.reason


@pytest.mark.parametrize("text", ["urn:epc:id:sgtin:0614141", "urn:epc:tag:sgtin:3.0614141.812345.6789", "hello"])
def test_malformed_sources(text: str) -> None:
    with pytest.raises(MalformedEpc):
        encode(text)
