"""The engine protocol from the harness side (see docs/protocol.md).

Specs go to the engine as one compact JSON argument; records come back as
lines starting with a fixed marker, so they can be picked out of a serial
console log that interleaves other output.
"""

import json
from dataclasses import dataclass, field

PROTOCOL_VERSION = 1
MARKER = "@@hab "


def spec_json(spec: dict) -> str:
    """A spec as the engine expects it: compact (no whitespace, so it also
    survives a kernel command line), keys sorted for stable output."""
    return json.dumps({"protocol": PROTOCOL_VERSION, **spec}, separators=(",", ":"), sort_keys=True)


@dataclass
class Parsed:
    """Records found in an engine's output, and marked lines that did not parse."""

    records: list[dict] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict]:
        return [r for r in self.records if r.get("type") == kind]

    def first(self, kind: str) -> dict | None:
        found = self.of_type(kind)
        return found[0] if found else None


def parse_output(text: str) -> Parsed:
    """Collects the records in `text`; unmarked lines are ignored."""
    parsed = Parsed()
    for line in text.splitlines():
        at = line.find(MARKER)
        if at < 0:
            continue
        payload = line[at + len(MARKER) :].strip()
        try:
            record = json.loads(payload)
        except json.JSONDecodeError:
            parsed.bad_lines.append(line)
            continue
        if isinstance(record, dict) and isinstance(record.get("type"), str):
            parsed.records.append(record)
        else:
            parsed.bad_lines.append(line)
    return parsed
