"""The GS1 TDS worked examples decode and encode exactly (TDS 2.3 Annex E.1 and E.3 "Summary Examples")."""

from __future__ import annotations

import pytest

from silentgw.gateway.identity import CompanyPrefixes, Epc, decode, encode

# (hex from TDS E.3, scheme, tag URI or None, element string, Digital Link). E.3 writes the "+" hex without word
# padding and some Digital Links on example.com; the element strings are the reference. The SGTIN-96 row's EPC URI
# in E.3 reads "...05.1234567896789", an erratum: its tag URI and hex say serial 123456789.
EXAMPLES = [
    ("3066C4409047E140075BCD15", "sgtin-96", "urn:epc:tag:sgtin-96:3.95060001343.05.123456789",
     "(01)09506000134352(21)123456789", "https://id.gs1.org/01/09506000134352/21/123456789"),
    ("3666C4409047E159B2C2BF100000000000000000000000000000", "sgtin-198",
     "urn:epc:tag:sgtin-198:3.95060001343.05.32a%2Fb", "(01)09506000134352(21)32a/b",
     "https://id.gs1.org/01/09506000134352/21/32a%2Fb"),
    ("F73795211411234538566CB0AFC4", "sgtin+", None, "(01)79521141123453(21)32a/b",
     "https://id.gs1.org/01/79521141123453/21/32a%2Fb"),
    ("FB342CDE795211411234538566CB0AFC4", "dsgtin+", None, "(01)79521141123453(21)32a/b(17)220630",
     "https://id.gs1.org/01/79521141123453/21/32a%2Fb?17=220630"),
    ("311BA1B300CE0A6A83000000", "sscc-96", "urn:epc:tag:sscc-96:0.952012.03456789123", "(00)095201234567891235",
     "https://id.gs1.org/00/095201234567891235"),
    ("F90095201234567891235", "sscc+", None, "(00)095201234567891235", "https://id.gs1.org/00/095201234567891235"),
    ("3276451FD46072000000162E", "sgln-96", "urn:epc:tag:sgln-96:3.9521141.12345.5678",
     "(414)9521141123454(254)5678", "https://id.gs1.org/414/9521141123454/254/5678"),
    ("3976451FD46072CD9615F8800000000000000000000000000000", "sgln-195",
     "urn:epc:tag:sgln-195:3.9521141.12345.32a%2Fb", "(414)9521141123454(254)32a/b",
     "https://id.gs1.org/414/9521141123454/254/32a%2Fb"),
    ("F2395211411234548566CB0AFC4", "sgln+", None, "(414)9521141123454(254)32a/b",
     "https://id.gs1.org/414/9521141123454/254/32a%2Fb"),
    ("3376451FD40C0E400000162E", "grai-96", "urn:epc:tag:grai-96:3.9521141.12345.5678", "(8003)095211411234545678",
     "https://id.gs1.org/8003/095211411234545678"),
    ("3776451FD40C0E59B2C2BF1000000000000000000000", "grai-170", "urn:epc:tag:grai-170:3.9521141.12345.32a%2Fb",
     "(8003)0952114112345432a/b", "https://id.gs1.org/8003/0952114112345432a%2Fb"),
    ("F13095211411234548566CB0AFC4", "grai+", None, "(8003)0952114112345432a/b",
     "https://id.gs1.org/8003/0952114112345432a%2Fb"),
    ("3476451FD40000000000162E", "giai-96", "urn:epc:tag:giai-96:3.9521141.5678", "(8004)95211415678",
     "https://id.gs1.org/8004/95211415678"),
    ("3876451FD59B2C2BF10000000000000000000000000000000000", "giai-202", "urn:epc:tag:giai-202:3.9521141.32a%2Fb",
     "(8004)952114132a/b", "https://id.gs1.org/8004/952114132a%2Fb"),
    ("FA3952114132E83C2BF10", "giai+", None, "(8004)952114132a/b", "https://id.gs1.org/8004/952114132a%2Fb"),
]  # fmt: skip


@pytest.mark.parametrize(("hex_", "scheme", "tag_uri", "element", "link"), EXAMPLES)
def test_tds_e3_example_decodes(hex_: str, scheme: str, tag_uri: str | None, element: str, link: str) -> None:
    epc = decode(hex_)
    assert isinstance(epc, Epc)
    assert (epc.scheme, epc.tag_uri, epc.element_string, epc.digital_link) == (scheme, tag_uri, element, link)
    assert epc.warnings == ()


@pytest.mark.parametrize(("hex_", "scheme", "tag_uri", "element", "link"), EXAMPLES)
def test_tds_e3_example_encodes(hex_: str, scheme: str, tag_uri: str | None, element: str, link: str) -> None:
    # We pad to whole 16-bit words, as tags store and readers report them; E.3 shows the "+" hex unpadded.
    source = tag_uri if tag_uri is not None else element
    decoded = decode(hex_)
    assert isinstance(decoded, Epc)
    flt = decoded.filter
    encoded = encode(source, scheme=scheme, filter=flt)
    assert encoded.startswith(hex_)
    assert set(encoded[len(hex_) :]) <= {"0"}
    assert len(encoded) % 4 == 0


def test_tds_e1_sgtin96() -> None:
    # TDS E.1: (01)09506000134352(21)6789 with a 11-digit prefix, filter 3.
    assert encode("urn:epc:tag:sgtin-96:3.95060001343.05.6789") == "3066C4409047E14000001A85"


def test_brief_example_sgtin96() -> None:
    # The widely quoted TDS encoding example; the indicator digit 8 leads the GTIN.
    epc = decode("3074257BF7194E4000001A85")
    assert isinstance(epc, Epc)
    assert epc.tag_uri == "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
    assert epc.uri == "urn:epc:id:sgtin:0614141.812345.6789"
    assert (epc.gtin, epc.serial, epc.filter) == ("80614141123458", "6789", 3)
    assert epc.key == "(01)80614141123458(21)6789"
    assert epc.company_prefix == "0614141"


def test_plus_uri_needs_known_prefix() -> None:
    hex_ = "F73795211411234538566CB0AFC4"
    unknown = decode(hex_)
    assert isinstance(unknown, Epc)
    assert unknown.uri is None
    known = decode(hex_, prefixes=CompanyPrefixes.of(["9521141"]))
    assert isinstance(known, Epc)
    assert known.uri == "urn:epc:id:sgtin:9521141.712345.32a%2Fb"
    assert known.company_prefix == "9521141"


def test_dsgtin_plus_date() -> None:
    epc = decode("FB342CDE795211411234538566CB0AFC4")
    assert isinstance(epc, Epc)
    assert epc.date == ("17", "220630")
    assert epc.key == "(01)79521141123453(21)32a/b"  # the date is not part of the item's key


def test_same_item_is_one_key_across_partitions_and_schemes() -> None:
    # (01)80614141123458(21)6789 written with a 7-digit and an 8-digit prefix, as SGTIN-198 and as SGTIN+.
    seven = encode("(01)80614141123458(21)6789", scheme="sgtin-96", company_prefix_length=7)
    eight = encode("(01)80614141123458(21)6789", scheme="sgtin-96", company_prefix_length=8)
    long_ = encode("(01)80614141123458(21)6789", scheme="sgtin-198", company_prefix_length=9)
    plus = encode("(01)80614141123458(21)6789", scheme="sgtin+")
    decoded = [decode(h) for h in (seven, eight, long_, plus)]
    assert len({d.hex for d in decoded}) == 4
    assert {d.key for d in decoded if isinstance(d, Epc)} == {"(01)80614141123458(21)6789"}
    assert len({d.uri for d in decoded if isinstance(d, Epc) and d.uri}) == 3  # one URN per prefix length


def test_padding_accepted_and_nonzero_padding_flagged() -> None:
    padded = decode("3666C4409047E159B2C2BF100000000000000000000000000000")
    assert isinstance(padded, Epc)
    assert padded.warnings == ()
    dirty = decode("3666C4409047E159B2C2BF100000000000000000000000000001")
    assert isinstance(dirty, Epc)
    assert dirty.warnings == ("non-zero padding bits after bit 198 of sgtin-198",)
    assert dirty.key == padded.key


def test_lower_case_hex_and_to_dict() -> None:
    epc = decode("3074257bf7194e4000001a85")
    assert isinstance(epc, Epc)
    assert epc.hex == "3074257BF7194E4000001A85"
    data = epc.to_dict()
    assert data["gtin"] == "80614141123458"
    assert data["digital_link"] == "https://id.gs1.org/01/80614141123458/21/6789"
