"""The EPCIS event hash ID of CBV 2.0 (section 8.9.2): ``ni:///sha-256;<hex>?ver=CBV2.0``, a name for an event
that anyone holding the event can compute again, whatever its syntax (XML or JSON-LD) or the order of its fields.

The hash is SHA-256 over a *pre-hash string*: the event's fields in a canonical order (:data:`_ORDER`), each value
as ``key=value`` with no separators, after normalising every value that has more than one spelling:

- timestamps in UTC with exactly three decimals (``2020-03-04T10:00:30.000Z``; a fourth decimal of 5-9 rounds the
  third up);
- numbers without trailing zeros (``26``, not ``26.0``);
- CBV values as their Web URIs (``shipping`` and ``urn:epcglobal:cbv:bizstep:shipping`` are both
  ``https://ref.gs1.org/cbv/BizStep-shipping``), GS1 Web Vocabulary terms as ``https://ref.gs1.org/voc/...``;
- EPC URIs as canonical GS1 Digital Links (:mod:`.links`);
- the members of a list sorted, so a list's order does not change the hash; a ``type`` (of a business transaction,
  a source, a destination) written before the value it qualifies;
- user extensions (``prefix:name`` keys) written as ``{namespace}name``, sorted, after everything else; in CBV 2.0
  an extension inside ``readPoint`` or ``bizLocation`` joins them there, behind its parent's name.

``eventID``, ``recordTime``, ``certificationInfo``, ``errorDeclaration`` and ``@context`` are not hashed. The
reference implementation's published vectors (tests/data/epcis/hash-vectors/) pin down what the prose leaves open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from silentgw.gateway.epcis.links import canonical

__all__ = ["VERSION", "cbv_uri", "event_hash", "namespaces", "prehash"]

VERSION = "CBV2.0"
"""The version of the algorithm, as the hash URI names it."""

_CBV = "https://ref.gs1.org/cbv/"
_VOC = "https://ref.gs1.org/voc/"
# CURIE prefixes the algorithm expands the same way whatever a document's @context says (rule 15).
_FIXED_PREFIXES = {"gs1": _VOC, "cbv": _CBV, "epcis": "https://ref.gs1.org/epcis/"}
# urn:epcglobal:cbv:<vocabulary>:<value> and the Web URI term each vocabulary's values have (rule 14).
_CBV_URN_TERMS = {"bizstep": "BizStep-", "disp": "Disp-", "btt": "BTT-", "sdt": "SDT-", "er": "ER-"}
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")

_EPC_LISTS = ("epcList", "parentID", "inputEPCList", "childEPCs")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList")
_METADATA = ("time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
             "bizRules")  # fmt: skip
_REPORT = ("type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
           "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
           "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom",
           "coordinateReferenceSystem")  # fmt: skip
_TIMES = frozenset({"eventTime", "time", "startTime", "endTime"})
_NOT_HASHED = frozenset({"@context", "type", "eventID", "recordTime", "certificationInfo", "errorDeclaration"})
# The canonical property order (after eventType); the names of the fields that are not extensions.
_ORDER = ("eventTime", "eventTimeZoneOffset", *_EPC_LISTS, *_QUANTITY_LISTS, "outputEPCList", "outputQuantityList",
          "action", "transformationID", "bizStep", "disposition", "persistentDisposition", "readPoint", "bizLocation",
          "bizTransactionList", "sourceList", "destinationList", "sensorElementList", "ilmd")  # fmt: skip
_STANDARD = frozenset(_ORDER) | _NOT_HASHED


def event_hash(event: Mapping[str, Any], *, context: Mapping[str, str] | None = None) -> str:
    """The CBV 2.0 event hash ID of a JSON-LD ``event``; ``context`` maps its extensions' prefixes to namespaces."""
    digest = hashlib.sha256(prehash(event, context=context).encode()).hexdigest()
    return f"ni:///sha-256;{digest}?ver={VERSION}"


def cbv_uri(value: str, term: str) -> str:
    """A CBV value in the one form the hash uses, e.g. ``shipping`` with ``term="BizStep-"`` (or its URN, or its Web
    URI) -> ``https://ref.gs1.org/cbv/BizStep-shipping``: for comparing values however they are spelled."""
    return _cbv(value, term, _FIXED_PREFIXES)


def namespaces(context: Any) -> dict[str, str]:
    """The prefix -> namespace definitions of a JSON-LD ``@context`` (a URL, an object, or a list of them)."""
    found: dict[str, str] = {}
    for entry in context if isinstance(context, list) else [context]:
        if isinstance(entry, Mapping):
            found.update({k: v for k, v in entry.items() if isinstance(v, str) and not k.startswith("@")})
    return found


def prehash(event: Mapping[str, Any], *, context: Mapping[str, str] | None = None) -> str:
    """The pre-hash string of ``event``: what :func:`event_hash` digests."""
    ns = {**(context or {}), **_FIXED_PREFIXES}
    out = [f"eventType={event['type']}"]
    trailing: list[str] = []  # extensions, event-level and (CBV 2.0) those inside readPoint and bizLocation
    for name in _ORDER:
        if name in event:
            out.append(_field(name, event[name], ns, trailing))
    for key, value in event.items():
        if key not in _STANDARD and _is_extension(key):
            trailing.extend(_extension(key, value, ns))
    return "".join(out) + "".join(sorted(trailing))


def _field(name: str, value: Any, ns: Mapping[str, str], trailing: list[str]) -> str:
    """One standard field of the event, in pre-hash form."""
    if name in ("eventTime", "eventTimeZoneOffset", "action"):
        return f"{name}={_scalar(name, value, ns)}"
    if name in ("parentID", "transformationID"):
        return f"{name}={canonical(str(value).strip())}"
    if name in ("bizStep", "disposition"):
        return f"{name}={_cbv(value, 'BizStep-' if name == 'bizStep' else 'Disp-', ns)}"
    if name in ("epcList", "inputEPCList", "childEPCs", "outputEPCList"):
        return name + _sorted(f"epc={canonical(str(epc).strip())}" for epc in value) if value else ""
    if name.endswith("QuantityList") or name == "quantityList":
        return name + _sorted("quantityElement" + _fields(q, ("epcClass", "quantity", "uom"), ns) for q in value)
    if name == "persistentDisposition":
        return name + "".join(
            _sorted(f"{part}={_cbv(d, 'Disp-', ns)}" for d in value.get(part, ())) for part in ("set", "unset")
        )
    if name in ("readPoint", "bizLocation"):
        extensions = [e for k, v in value.items() if _is_extension(k) for e in _extension(k, v, ns)]
        if extensions:
            trailing.append(name + _sorted(extensions))
        return f"{name}id={canonical(str(value['id']).strip())}"
    if name == "bizTransactionList":
        return name + _typed(value, "bizTransaction", "BTT-", ns)
    if name in ("sourceList", "destinationList"):
        return name + _typed(value, name.removesuffix("List"), "SDT-", ns)
    if name == "sensorElementList":
        return _sorted(_sensor_element(element, ns, trailing) for element in value)  # CBV 2.0: no list name
    return name + _sorted(e for k, v in value.items() for e in _extension(k, v, ns))  # ilmd


def _typed(items: Iterable[Mapping[str, Any]], key: str, term: str, ns: Mapping[str, str]) -> str:
    """A list of values that may carry a ``type``: the type first, then the value, the list sorted."""
    return _sorted(
        ("" if "type" not in item else f"type={_cbv(item['type'], term, ns)}") + f"{key}={canonical(item[key])}"
        for item in items
    )


def _sensor_element(element: Mapping[str, Any], ns: Mapping[str, str], trailing: list[str]) -> str:
    """One sensorElement: its metadata, then its reports (sorted)."""
    text = "sensorElement"
    metadata = element.get("sensorMetadata")
    if metadata is not None:
        text += "sensorMetadata" + _fields(metadata, _METADATA, ns)
    reports = [("sensorReport" + _fields(r, _REPORT, ns), r) for r in element.get("sensorReport", ())]
    text += _sorted(report for report, _ in reports)
    # Not covered by a published vector: extensions inside sensor data join the trailing block behind their
    # parents' names, as CBV 2.0 does for readPoint's, so that no field of the event escapes the hash.
    for parent, fields in [("sensorElement", element), ("sensorElementsensorMetadata", metadata or {})] + [
        ("sensorElementsensorReport", r) for _, r in reports
    ]:
        extensions = [e for k, v in fields.items() if _is_extension(k) for e in _extension(k, v, ns)]
        if extensions:
            trailing.append(parent + _sorted(extensions))
    return text


def _fields(values: Mapping[str, Any], order: tuple[str, ...], ns: Mapping[str, str]) -> str:
    """The named fields of ``values`` present, in ``order``, as ``key=value``."""
    return "".join(f"{key}={_scalar(key, values[key], ns)}" for key in order if key in values)


def _scalar(key: str, value: Any, ns: Mapping[str, str]) -> str:
    """A value in pre-hash form, by the field it belongs to."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    text = str(value).strip()
    if key in _TIMES:
        return _timestamp(text)
    if key in ("type", "exception") and ":" not in text:
        return _VOC + text  # a bare measurement type or alert type is a GS1 Web Vocabulary term
    return _uri(text, ns)


def _cbv(value: str, term: str, ns: Mapping[str, str]) -> str:
    """A CBV value: bare (``shipping``), a URN or a CURIE, as its Web URI; any other URI as it is."""
    value = value.strip()
    return _CBV + term + value if ":" not in value else _uri(value, ns)


def _uri(text: str, ns: Mapping[str, str]) -> str:
    """A URI-like value canonicalised: CBV URNs as Web URIs, CURIEs expanded, EPCs and Digital Links canonical."""
    if text.startswith("urn:epcglobal:cbv:"):
        vocabulary, _, value = text.removeprefix("urn:epcglobal:cbv:").partition(":")
        if vocabulary in _CBV_URN_TERMS:
            return _CBV + _CBV_URN_TERMS[vocabulary] + value
        return text
    prefix, colon, local = text.partition(":")
    if colon and prefix in ns and not local.startswith("//"):
        return ns[prefix] + local
    return canonical(text)


def _number(value: float) -> str:
    """A number without trailing zeros or an exponent: 26.0 -> 26, 0.050 -> 0.05."""
    return format(Decimal(repr(value)).normalize(), "f")


def _timestamp(text: str) -> str:
    """An xsd:dateTimeStamp in UTC with milliseconds, the fourth decimal rounding half up."""
    match = _TIME.fullmatch(text)
    if match is None:
        return text  # not a timestamp we can read: hashed as written
    whole, fraction, zone = match.groups()
    fraction = fraction or ""
    millis = int(fraction[:3].ljust(3, "0")) + (1 if len(fraction) > 3 and fraction[3] >= "5" else 0)
    time = dt.datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    time = (time + dt.timedelta(milliseconds=millis)).astimezone(dt.UTC)
    return time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time.microsecond // 1000:03d}Z"


def _is_extension(key: str) -> bool:
    """Whether ``key`` names a user extension: a CURIE (``example:myField``) or an absolute IRI."""
    return ":" in key and not key.startswith("@")


def _extension(key: str, value: Any, ns: Mapping[str, str]) -> list[str]:
    """An extension element as pre-hash strings: one per value of a list, children sorted inside an object."""
    name = _expanded(key, ns)
    if isinstance(value, list):
        return [text for item in value for text in _extension(key, item, ns)]
    if isinstance(value, Mapping):
        return [name + _sorted(text for k, v in value.items() if k != "@context" for text in _extension(k, v, ns))]
    return [f"{name}={_scalar(key, value, ns)}"]


def _expanded(key: str, ns: Mapping[str, str]) -> str:
    """``prefix:name`` as ``{namespace}name`` (an unknown prefix is kept as the namespace's name)."""
    prefix, _, local = key.partition(":")
    if key.startswith(("http://", "https://")):
        cut = max(key.rfind("/"), key.rfind("#")) + 1
        return "{" + key[:cut] + "}" + key[cut:]
    return "{" + ns.get(prefix, prefix) + "}" + local


def _sorted(texts: Iterable[str]) -> str:
    """Strings joined in case-sensitive code point order, as the algorithm sorts every list."""
    return "".join(sorted(texts))
