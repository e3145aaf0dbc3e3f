"""How right the reader is on documents it was not written for: fields right over total, by class and by field.

The corpus (tests/fidelity/) holds conventions and avenants written independently of the reader from the
national template, with the values a person read off each document before the reader ever ran. Every field
counts one: each convention field, each commitment item (party, ref and text together) and, for a document
that must be refused, the refusal itself (with the file named in the message). A document refused that should
have been read loses all its fields; an item read that the document does not have counts as a wrong field.

    python benchmarks/fidelity.py [--corpus tests/fidelity] [--json OUT] [--show-wrong]
"""

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "fidelity"
CONVENTION_FIELDS = ("territory_name", "representative_name", "representative_title", "state_representative",
                     "chef_de_file", "labellisation_date", "roadmap_deadline_months", "roadmap_due_date",
                     "duration_months", "end_date", "signature_place", "signature_date")
AVENANT_FIELDS = ("territory_name", "number", "extension_months", "new_end_date", "signature_place",
                  "signature_date")


@dataclass
class Check:
    document: str
    classes: list[str]
    field: str
    expected: Any
    got: Any

    @property
    def right(self) -> bool:
        return _norm(self.expected) == _norm(self.got)


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)

    def add(self, document: str, classes: list[str], name: str, expected: Any, got: Any) -> None:
        self.checks.append(Check(document, classes, name, expected, got))

    @property
    def right(self) -> int:
        return sum(c.right for c in self.checks)

    def by(self, key: str) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for c in self.checks:
            keys = c.classes if key == "class" else [re.sub(r"\[\d+\]$", "[n]", c.field)]
            for k in keys:
                out[k][0] += c.right
                out[k][1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(out.items())}


_SAME_GLYPH = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2013": "-", "\u2014": "-"})


def _norm(value: Any) -> Any:
    """Values compare with blanks collapsed, apostrophes as one character and dashes as one: an OCR reading
    cannot tell the typographic apostrophe from the straight one, nor an en dash from a hyphen, and neither
    changes what the value says."""
    if isinstance(value, str):
        return " ".join(value.translate(_SAME_GLYPH).split())
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _read(path: Path, kind: str) -> tuple[dict[str, Any] | None, str | None]:
    """(fields read, None) or (None, the refusal's message)."""
    from qp_analytics.reading.avenant import parse_avenant
    from qp_analytics.reading.convention import ConventionError, parse_convention
    from qp_analytics.reading.documents import DocumentError, read_document

    try:
        doc = read_document(path)
        parsed = (parse_convention if kind == "convention" else parse_avenant)(doc).to_dict()
    except (DocumentError, ConventionError) as exc:
        return None, str(exc)
    if kind == "convention":
        rep = parsed.pop("representative") or {}
        parsed["representative_name"], parsed["representative_title"] = rep.get("name"), rep.get("title")
    return parsed, None


def evaluate(corpus: Path = CORPUS) -> Outcome:
    outcome = Outcome()
    for expected_file in sorted((corpus / "expected").glob("*.json")):
        spec = json.loads(expected_file.read_text(encoding="utf-8"))
        path = corpus / "documents" / spec["document"]
        classes = spec.get("classes", []) or ["(none)"]
        got, refusal = _read(path, spec["kind"])
        if spec["expect"] == "refused":
            named = refusal is not None and str(path) in refusal and "Traceback" not in refusal
            outcome.add(spec["document"], classes, "refused", True, named)
            continue
        fields = spec["fields"]
        names = CONVENTION_FIELDS if spec["kind"] == "convention" else AVENANT_FIELDS
        for name in names:
            if name in fields:
                outcome.add(spec["document"], classes, name, fields[name], None if got is None else got.get(name))
        if spec["kind"] == "convention":
            want = fields.get("commitments", [])
            have = [] if got is None else [{"party": c["party"], "ref": c["ref"], "text": c["text"]}
                                          for c in got["commitments"]]
            for n in range(max(len(want), len(have))):
                outcome.add(spec["document"], classes, f"commitments[{n + 1}]",
                            want[n] if n < len(want) else None, have[n] if n < len(have) else None)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--show-wrong", action="store_true", help="list every wrong field")
    args = parser.parse_args(argv)
    outcome = evaluate(args.corpus)
    total = len(outcome.checks)
    documents = len({c.document for c in outcome.checks})
    print(f"Fidelity on {documents} documents: {outcome.right}/{total} fields right "
          f"({100 * outcome.right / max(total, 1):.1f} %)")
    for key in ("class", "field"):
        print(f"\nBy {key}:")
        for name, (right, n) in outcome.by(key).items():
            print(f"  {name:40} {right:4}/{n:<4} {100 * right / n:6.1f} %")
    wrong = [c for c in outcome.checks if not c.right]
    if args.show_wrong and wrong:
        print("\nWrong:")
        for c in wrong:
            print(f"  {c.document} {c.field}\n    expected {c.expected!r}\n    got      {c.got!r}")
    if args.json:
        args.json.write_text(json.dumps({
            "documents": documents, "fields": total, "right": outcome.right,
            "by_class": outcome.by("class"), "by_field": outcome.by("field"),
        }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
