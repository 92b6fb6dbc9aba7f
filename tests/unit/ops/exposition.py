"""A strict reader of the Prometheus text format (0.0.4) for the tests: what a scraper would take from ``/metrics``.

Written from the format's rules, not from silentgw's writer, so the two check each other: a family is declared by
one ``# TYPE`` line before its samples, at most one ``# HELP`` (backslash and line feed escaped), samples are
``name{label="value",...} value [timestamp]`` with label values escaping backslash, double quote and line feed,
names from ``[a-zA-Z_:][a-zA-Z0-9_:]*``, and the text ends in a line feed. Anything else raises ``ValueError``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}

Labels = frozenset[tuple[str, str]]


@dataclass
class Parsed:
    """One family as a scraper sees it."""

    type: str = "untyped"
    help: str | None = None
    samples: dict[Labels, float] = field(default_factory=dict)

    def value(self, **labels: str) -> float:
        """The sample with exactly these labels (KeyError when there is none)."""
        return self.samples[frozenset(labels.items())]

    def by(self, label: str) -> dict[str, float]:
        """The samples keyed by one label's value."""
        return {dict(labels)[label]: value for labels, value in self.samples.items()}


def _unescape(text: str, quotes: bool) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if nxt == "\\":
            out.append("\\")
        elif nxt == "n":
            out.append("\n")
        elif nxt == '"' and quotes:
            out.append('"')
        else:
            raise ValueError(f"bad escape \\{nxt} in {text!r}")
    return "".join(out)


def _labels(text: str) -> Labels:
    """``a="x",b="y"`` (a trailing comma allowed) into label pairs."""
    pairs: dict[str, str] = {}
    i = 0
    while i < len(text):
        m = LABEL.match(text, i)
        if m is None or text[m.end() : m.end() + 2] != '="':
            raise ValueError(f"bad label at {text[i:]!r}")
        j = m.end() + 2
        raw: list[str] = []
        while True:
            if j >= len(text):
                raise ValueError(f"unterminated label value in {text!r}")
            if text[j] == "\\":
                raw.append(text[j : j + 2])
                j += 2
            elif text[j] == '"':
                break
            else:
                raw.append(text[j])
                j += 1
        if m.group() in pairs:
            raise ValueError(f"label {m.group()} twice")
        pairs[m.group()] = _unescape("".join(raw), quotes=True)
        i = j + 1
        if i < len(text):
            if text[i] != ",":
                raise ValueError(f"expected a comma at {text[i:]!r}")
            i += 1
    return frozenset(pairs.items())


def _value(text: str) -> float:
    if text in ("NaN", "+Inf", "-Inf"):
        return {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[text]
    return float(text)  # ValueError when it is not a number


def parse(text: str) -> dict[str, Parsed]:
    """Every family of ``text``, by name."""
    if not text.endswith("\n"):
        raise ValueError("the text does not end in a line feed")
    families: dict[str, Parsed] = {}
    sampled: set[str] = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ValueError(f"bad metric name {name!r}")
                if name in sampled:
                    raise ValueError(f"{parts[1]} of {name} after its samples")
                family = families.setdefault(name, Parsed())
                if parts[1] == "HELP":
                    if family.help is not None:
                        raise ValueError(f"a second HELP for {name}")
                    family.help = _unescape(parts[3] if len(parts) > 3 else "", quotes=False)
                else:
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ValueError(f"bad TYPE line {line!r}")
                    family.type = parts[3]
            continue
        m = NAME.match(line)
        if m is None:
            raise ValueError(f"bad sample line {line!r}")
        name, rest = m.group(), line[m.end() :]
        labels: Labels = frozenset()
        if rest.startswith("{"):
            end = rest.rfind("}")
            if end < 0:
                raise ValueError(f"unclosed labels in {line!r}")
            labels, rest = _labels(rest[1:end]), rest[end + 1 :]
        fields = rest.split()
        if not rest.startswith(" ") or len(fields) not in (1, 2):
            raise ValueError(f"bad sample line {line!r}")
        family = families.setdefault(name, Parsed())
        if labels in family.samples:
            raise ValueError(f"{name} {dict(labels)} twice")
        family.samples[labels] = _value(fields[0])
        sampled.add(name)
    return families
