"""Write expected/<document>.json from the specs (run once, before any reader was run).

The values are the facts the author wrote into each document (see build.py): nothing here
reads a rendered document back.  Run:  /work/main/.venv/bin/python sources/write_expected.py
"""
import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build import build  # noqa: E402
from corpus_spec import DOCS  # noqa: E402

OUT = HERE.parent / "expected"


def expected(spec):
    out = {"document": spec["file"], "kind": spec["kind"], "territory_id": spec["territory"],
           "classes": spec["classes"], "expect": spec.get("expect", "read")}
    if out["expect"] == "refused":
        out["reason"] = spec["reason"]
        return out
    _, fields = build(copy.deepcopy(spec))
    out["fields"] = fields
    return out


def main():
    OUT.mkdir(exist_ok=True)
    for spec in DOCS:
        path = OUT / (spec["file"] + ".json")
        path.write_text(json.dumps(expected(spec), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print("wrote", path.name)


if __name__ == "__main__":
    main()
