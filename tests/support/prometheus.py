"""Read a Prometheus endpoint's text format: each sample by its name and labels."""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass, field

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Scrape:
    samples: list[Sample] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # metric family -> counter, gauge, histogram

    def matching(self, name: str, **labels: str) -> list[Sample]:
        return [
            sample
            for sample in self.samples
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        """The one sample of `name` with these labels (others may be on it too); KeyError when there is none."""
        found = self.matching(name, **labels)
        if not found:
            raise KeyError(f"no sample {name}{labels}")
        if len(found) > 1:
            raise AssertionError(f"{len(found)} samples match {name}{labels}: {[s.labels for s in found]}")
        return found[0].value

    def total(self, name: str, **labels: str) -> float:
        """The sum of every sample of `name` with these labels (0 when there is none)."""
        return sum(sample.value for sample in self.matching(name, **labels))


def parse(text: str) -> Scrape:
    scrape = Scrape()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(maxsplit=3)
            scrape.types[family] = kind
        elif line and not line.startswith("#"):
            match = _SAMPLE.match(line)
            if match is None:
                raise AssertionError(f"not a Prometheus sample line: {line!r}")
            name, labels, value = match.groups()
            scrape.samples.append(Sample(name, dict(_LABEL.findall(labels or "")), float(value)))
    return scrape


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=5) as response:
        return parse(response.read().decode())
