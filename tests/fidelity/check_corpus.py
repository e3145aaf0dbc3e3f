"""Self-check of the corpus (not a test of any reader).

    /work/main/.venv/bin/python tests/fidelity/check_corpus.py [--ocr]

For every spec: the document exists and opens in its format; expected/<doc>.json parses and has
the agreed shape; for documents with a text layer, every expected string (territory, names, state
representative, each commitment) is found in the extracted text once ligatures are decomposed,
running headers/footers and page numbers dropped, line-end hyphenation undone and whitespace
collapsed.  Scans must have no fonts; --ocr runs tesseract (fra) on the first page of each scan.
"""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sources"))
from corpus_spec import DOCS  # noqa: E402

CONV_FIELDS = ["territory_name", "representative_name", "representative_title", "state_representative",
               "chef_de_file", "labellisation_date", "roadmap_deadline_months", "roadmap_due_date",
               "duration_months", "end_date", "signature_place", "signature_date", "commitments"]
AV_FIELDS = ["territory_name", "number", "extension_months", "new_end_date", "signature_place", "signature_date"]
CODES = {"anct", "anru", "banque_des_territoires", "bpifrance"}
PARTIES = {"etat", "intercommunalite", "chef_de_file", "partenaires"}


def pdftotext(path, first=None, last=None):
    cmd = ["pdftotext"]
    if first:
        cmd += ["-f", str(first), "-l", str(last)]
    return subprocess.run(cmd + [str(path), "-"], capture_output=True, text=True, check=True).stdout


def fonts(path):
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[2:]


def docx_text(path):
    import docx
    d = docx.Document(str(path))
    parts = [p.text for p in d.paragraphs]
    for t in d.tables:
        for row in t.rows:
            parts.extend(c.text for c in row.cells)
    return "\n".join(parts)


def clean(text, r):
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl")
    pats = [r.get(k) for k in ("header", "footer", "pagenum") if r.get(k)]
    regs = [re.compile("^" + re.escape(p).replace(r"\{n\}", r"\d+").replace(r"\{nb\}", r"\d+").replace(r"\ ", r"\s*") + "$") for p in pats]
    lines = [ln for ln in text.splitlines() if not any(rg.match(ln.strip()) for rg in regs)]
    text = "\n".join(lines)
    text = re.sub(r"([a-zà-ÿœ])-\s*\n\s*([a-zà-ÿœ])", r"\1\2", text)
    return re.sub(r"\s+", " ", text)


def main():
    ocr = "--ocr" in sys.argv
    problems = []
    seen = set()
    for spec in DOCS:
        name = spec["file"]
        seen.add(name)
        path = HERE / "documents" / name
        exp_path = HERE / "expected" / (name + ".json")
        if not path.exists():
            problems.append(f"{name}: missing document")
            continue
        try:
            exp = json.loads(exp_path.read_text(encoding="utf-8"))
        except Exception as e:  # noqa: BLE001
            problems.append(f"{name}: expected JSON: {e}")
            continue
        assert exp["document"] == name and exp["kind"] == spec["kind"], name
        assert exp["expect"] in ("read", "refused"), name
        if exp["expect"] == "refused":
            assert "fields" not in exp and exp.get("reason"), name
        else:
            keys = CONV_FIELDS if exp["kind"] == "convention" else AV_FIELDS
            assert list(exp["fields"]) == keys, (name, list(exp["fields"]))
            if exp["kind"] == "convention":
                assert exp["fields"]["chef_de_file"] in CODES, name
                for c in exp["fields"]["commitments"]:
                    assert c["party"] in PARTIES and set(c) == {"party", "ref", "text"}, (name, c)
                    assert not re.search(r"[;,.]$|\s(et|ou)$", c["text"]), (name, c["text"])
        fmt = spec["fmt"]
        r = spec.get("render", {})
        text = None
        if fmt == "txt":
            text = path.read_text(encoding="utf-8")
        elif fmt in ("pdf", "mixed"):
            assert fonts(path), f"{name}: no fonts in a text PDF"
            text = pdftotext(path)
            if fmt == "mixed":
                n = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout).group(1))
                assert pdftotext(path, n, n).strip() == "", f"{name}: last page should be an image"
        elif fmt in ("scan", "blank_scan"):
            assert not fonts(path), f"{name}: a scan must have no fonts"
            assert pdftotext(path).strip() == "", f"{name}: a scan must have no text layer"
            if ocr:
                with tempfile.TemporaryDirectory() as td:
                    subprocess.run(["pdftoppm", "-r", "300", "-f", "1", "-l", "1", "-png", str(path), f"{td}/p"], check=True)
                    png = next(Path(td).glob("p*.png"))
                    o = subprocess.run(["tesseract", str(png), "-", "-l", "fra"], capture_output=True, text=True).stdout
                    words = len(o.split())
                    print(f"OCR {name}: {words} words; first line: {o.strip().splitlines()[0] if o.strip() else ''!r}")
                    if fmt == "scan" and words < 50:
                        problems.append(f"{name}: OCR reads too little ({words} words)")
                    if fmt == "blank_scan" and words > 3:
                        problems.append(f"{name}: blank scan reads {words} words")
        elif fmt == "docx":
            text = docx_text(path)
        elif fmt == "corrupt_docx":
            try:
                docx_text(path)
                problems.append(f"{name}: corrupt docx opens")
            except Exception:  # noqa: BLE001
                pass
        if text is not None and exp["expect"] == "read":
            t = clean(text, r)
            f = exp["fields"]
            wanted = [f["territory_name"]]
            if exp["kind"] == "convention":
                wanted += [f["representative_name"], f["representative_title"], f["state_representative"]]
                wanted += [c["text"] for c in f["commitments"]]
            for w in wanted:
                if w and w not in t:
                    problems.append(f"{name}: not found in text: {w[:90]!r}")
    for p in (HERE / "documents").iterdir():
        if p.name not in seen:
            problems.append(f"{p.name}: document without spec")
    for p in (HERE / "expected").iterdir():
        if p.name[:-5] not in seen:
            problems.append(f"{p.name}: expectation without document")
    print(f"{len(DOCS)} documents checked, {len(problems)} problem(s)")
    for p in problems:
        print(" -", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
