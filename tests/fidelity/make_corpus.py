"""(Re)write every document of the fidelity corpus from its spec, deterministically.

    /work/main/.venv/bin/python tests/fidelity/make_corpus.py            # documents/
    /work/main/.venv/bin/python tests/fidelity/make_corpus.py --only laval_avenant_1.txt

Sources: ``sources/texts.py`` (template wording), ``sources/corpus_spec.py`` (one spec per
document) and ``sources/build.py`` (spec -> blocks).  Renderers here:

* .txt   : the text as a PDF extractor gives it (line wrapping, runs of blank lines, running
           headers/footers and page numbers between lines, line-end hyphenation, ligatures);
* .pdf   : fpdf2 with DejaVu fonts, header and footer on each page, own line breaking with
           optional hyphenation at line ends;
* scans  : the same PDF rasterised at 300 dpi with pdftoppm, greyed, slightly rotated,
           stamp box, and reassembled image-only with PIL (no text layer, no fonts);
* mixed  : text pages followed by a scanned signature page;
* .docx  : python-docx, headings, Word list styles (number not in the text, numbering
           restarted per list) or typed numbers, header/footer, signature table;
* broken : a .docx of random bytes, a scan of a blank page.

The expected values (``expected/*.json``) are NOT written here: see sources/write_expected.py.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import io
import random
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sources"))

from build import build  # noqa: E402
from corpus_spec import DOCS  # noqa: E402

OUT = HERE / "documents"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FIXED_DT = dt.datetime(2021, 3, 18, 9, 0, 0, tzinfo=dt.UTC)
VOWELS = set("aeiouyàâäéèêëîïôöùûüœ")

# ----------------------------------------------------------------- line breaking


def hyphen_split(word: str, fits) -> tuple[str, str] | None:
    """Split a lower-case word V|CV at the longest prefix whose 'prefix-' fits."""
    core = word.rstrip(",.;:)»")
    if len(core) < 8 or not core.isalpha() or not core.islower():
        return None
    best = None
    for i in range(3, len(core) - 3):
        a, b, c = core[i - 1], core[i], core[i + 1]
        if a in VOWELS and b not in VOWELS and c in VOWELS and fits(core[:i] + "-"):
            best = i
    if best is None:
        return None
    return core[:best] + "-", word[best:]


def wrap(text: str, first_width, cont_width, measure, hyphenate: bool) -> list[str]:
    """Greedy line breaking. measure(s) -> width; widths are in the same unit."""
    # French spacing inside « » never breaks (a non-breaking space in the original)
    text = text.replace("« ", "«\x01").replace(" »", "\x01»")
    raw_measure = measure
    def measure(s):
        return (raw_measure(s.replace("\x01", " ")))
    words = text.split()
    lines, cur = [], ""
    width = first_width
    i = 0
    while i < len(words):
        w = words[i]
        cand = (cur + " " + w) if cur else w
        if measure(cand) <= width or not cur and measure(w) > width:
            cur = cand
            i += 1
            continue
        if hyphenate:
            def room(s, cur=cur, width=width):
                return (measure(cur + " " + s) <= width)
            sp = hyphen_split(w, room)
            if sp:
                lines.append(cur + " " + sp[0])
                words[i] = sp[1]
                cur = ""
                width = cont_width
                continue
        lines.append(cur)
        cur = ""
        width = cont_width
    if cur:
        lines.append(cur)
    return [line.replace("\x01", " ") for line in lines]


# ----------------------------------------------------------------- text rendering


def render_txt(blocks, r) -> str:
    width = r.get("width", 100)
    hyph = r.get("hyphenate", False)
    measure = len
    content: list[str | None] = []  # None = forced page break

    def para(text, first="", cont=""):
        for j, line in enumerate(wrap(text, width - len(first), width - len(cont), measure, hyph)):
            content.append((first if j == 0 else cont) + line)

    prev = None
    for b in blocks:
        t = b["t"]
        if prev == "li" and t != "li":
            content.append("")
        prev = t
        if t == "title":
            content.append(" " * max(0, (width - len(b["text"])) // 2) + b["text"])
        elif t == "h":
            content.append("")
            content.append(" " + b["text"] if r.get("double") else b["text"])
            content.append("")
        elif t == "p":
            para(b["text"])
            content.append("")
        elif t == "li":
            m = b["marker"] + " "
            para(b["text"], m, "" if r.get("double") else " " * len(m))
        elif t == "sig":
            content.extend(b["lines"])
            content.append("")
        elif t == "sigtable":
            for row in b["rows"]:
                content.append("    ".join(c for c in row))
        elif t == "pagebreak":
            content.append(None)
    # pagination
    pl = r.get("page_lines")
    pages: list[list[str]] = [[]]
    for line in content:
        if line is None or (pl and len(pages[-1]) >= pl):
            pages.append([])
            if line is None:
                continue
        pages[-1].append(line)
    nb = len(pages)
    out: list[str] = []
    for n, page in enumerate(pages, 1):
        if r.get("header") and n > 1:
            out.append(r["header"])
        out.extend(page)
        if r.get("footer"):
            out.append(r["footer"].format(n=n, nb=nb))
        if r.get("pagenum"):
            out.append(r["pagenum"].format(n=n, nb=nb))
    if r.get("double"):
        text = "\n\n".join(line + (" " if r.get("trailing") and line else "") for line in out)
    else:
        text = "\n".join(out)
    text = re.sub(r"\n{4,}", "\n\n\n", text) if not r.get("double") else text
    if r.get("ligatures"):
        text = text.replace("fi", "\ufb01").replace("fl", "\ufb02")
    return text.rstrip() + "\n"


# ----------------------------------------------------------------- PDF rendering


def make_pdf_class():
    from fpdf import FPDF

    class Doc(FPDF):
        header_text = None
        footer_text = None
        suppress = set()  # pages without header/footer (scanned page)

        def header(self):
            if self.header_text and self.page_no() not in self.suppress:
                self.set_font(self._fam, "", 8)
                self.set_text_color(90, 90, 90)
                self.cell(0, 5, self.header_text, align="R", new_x="LMARGIN", new_y="NEXT")
                self.set_draw_color(150, 150, 150)
                self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
                self.ln(4)
                self.set_text_color(0, 0, 0)
                self.set_font(self._fam, "", self.body_size)

        def footer(self):
            if self.footer_text and self.page_no() not in self.suppress:
                self.set_y(-15)
                self.set_font(self._fam, "", 8)
                self.set_text_color(90, 90, 90)
                txt = self.footer_text.replace("{n}", str(self.page_no()))
                self.cell(0, 5, txt, align="C")
                self.set_text_color(0, 0, 0)

    return Doc


def render_pdf(blocks, r, path: Path, scan_last_page: Path | None = None):
    # the private-use bullet of Word's Symbol font prints as a plain bullet
    blocks = [{k: (v.replace("\uf0b7", "•") if isinstance(v, str) else v) for k, v in b.items()}
              for b in blocks]
    for b in blocks:
        if "lines" in b:
            b["lines"] = [x.replace("\uf0b7", "•") for x in b["lines"]]
    Doc = make_pdf_class()
    pdf = Doc(format="A4")
    pdf.set_creation_date(FIXED_DT)
    pdf.set_title("Convention d’engagement Quartiers productifs")
    pdf.set_author("Illustrative document - fidelity corpus")
    serif = r.get("font") == "serif"
    fam = "DejaVuSerif" if serif else "DejaVuSans"
    base = "DejaVuSerif" if serif else "DejaVuSans"
    pdf.add_font(fam, "", str(FONT_DIR / f"{base}.ttf"))
    pdf.add_font(fam, "B", str(FONT_DIR / f"{base}-Bold.ttf"))
    pdf._fam = fam
    pdf.body_size = r.get("font_size", 10.5)
    pdf.header_text = r.get("header")
    pdf.footer_text = r.get("footer")
    if pdf.footer_text:
        pdf.footer_text = pdf.footer_text.replace("{nb}", "{nb}")
    pdf.alias_nb_pages("{nb}")
    pdf.set_margins(22, 18, 22)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    size = pdf.body_size
    lh = size * 0.52
    pdf.set_font(fam, "", size)
    hyph = r.get("hyphenate", False)
    full = pdf.w - pdf.l_margin - pdf.r_margin

    def measure(s):
        return pdf.get_string_width(s)

    def lines_at(lines, x):
        for line in lines:
            pdf.set_x(x)
            pdf.cell(0, lh, line, new_x="LMARGIN", new_y="NEXT")

    for b in blocks:
        t = b["t"]
        if t == "title":
            pdf.set_font(fam, "B", size + 3)
            pdf.multi_cell(0, lh * 1.5, b["text"], align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(fam, "", size)
        elif t == "h":
            pdf.ln(lh * 0.6)
            if pdf.will_page_break(lh * 4):
                pdf.add_page()
            pdf.set_font(fam, "B", size + 0.5)
            pdf.multi_cell(0, lh * 1.2, b["text"], new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(fam, "", size)
            pdf.ln(lh * 0.3)
        elif t == "p":
            lines_at(wrap(b["text"], full, full, measure, hyph), pdf.l_margin)
            pdf.ln(lh * 0.5)
        elif t == "li":
            ind = 6
            m = b["marker"]
            mw = max(measure(m + " "), 7)
            ls = wrap(b["text"], full - ind - mw, full - ind - mw, measure, hyph)
            for j, line in enumerate(ls):
                if j == 0:
                    pdf.set_x(pdf.l_margin + ind)
                    pdf.cell(mw, lh, m)
                pdf.set_x(pdf.l_margin + ind + mw)
                pdf.cell(0, lh, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(lh * 0.2)
        elif t == "sig":
            pdf.ln(lh)
            for line in b["lines"]:
                pdf.cell(0, lh, line, new_x="LMARGIN", new_y="NEXT")
        elif t == "sigtable":
            for row in b["rows"]:
                for cell in row:
                    pdf.cell(full / len(row), lh, cell)
                pdf.ln(lh)
        elif t == "pagebreak":
            if scan_last_page is not None:
                pdf.suppress.add(pdf.page_no() + 1)
                pdf.add_page()
                pdf.image(str(scan_last_page), x=0, y=0, w=pdf.w, h=pdf.h)
                break
            pdf.add_page()
    pdf.output(str(path))


# ----------------------------------------------------------------- scans


def rasterise(pdf_path: Path, tmp: Path) -> list[Path]:
    prefix = tmp / "page"
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-png", str(pdf_path), str(prefix)], check=True)
    return sorted(tmp.glob("page*.png"))


def age_page(png: Path, r: dict, seed: int, stamp: bool):
    """Turn a clean rendering into what a scanner gives: grey paper, speckles, a small tilt."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.open(png).convert("L")
    grey = r.get("grey", 240)
    im = im.point(lambda v: 25 + v * (grey - 25) // 255)
    rnd = random.Random(seed)
    draw = ImageDraw.Draw(im)
    w, h = im.size
    for _ in range(900):
        x, y = rnd.randrange(w), rnd.randrange(h)
        s = rnd.choice([1, 1, 2, 3])
        draw.rectangle([x, y, x + s, y + s], fill=rnd.randrange(150, 215))
    if stamp:
        font = ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), 46)
        box = [int(w * 0.58), int(h * 0.80), int(w * 0.90), int(h * 0.87)]
        draw.rectangle(box, outline=70, width=7)
        draw.text((box[0] + 40, box[1] + 45), "COPIE CERTIFIÉE", fill=70, font=font)
        draw.text((box[0] + 40, box[1] + 115), "CONFORME", fill=70, font=font)
    angle = r.get("skew", 0.0)
    if angle:
        im = im.rotate(angle, resample=Image.BICUBIC, fillcolor=grey, expand=False)
    return im


def save_image_pdf(images, path: Path):
    fixed = FIXED_DT.timetuple()
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=300.0,
                   quality=80, creationDate=fixed, modDate=fixed, title="Numérisation",
                   producer="scanner", creator="scanner")


def render_scan(blocks, r, path: Path):
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        clean = td / "clean.pdf"
        render_pdf(blocks, r, clean)
        pngs = rasterise(clean, td)
        images = [age_page(p, r, 1000 + i, stamp=r.get("stamp") and i == len(pngs) - 1)
                  for i, p in enumerate(pngs)]
        save_image_pdf(images, path)


def render_mixed(blocks, r, path: Path):
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        clean = td / "clean.pdf"
        render_pdf(blocks, r, clean)
        pngs = rasterise(clean, td)
        last = age_page(pngs[-1], dict(r, grey=236, skew=0.3), 77, stamp=True)
        scan_png = td / "scan.png"
        last.save(scan_png)
        render_pdf(blocks, r, path, scan_last_page=scan_png)


def render_blank_scan(path: Path):
    from PIL import Image, ImageDraw

    w, h = 2480, 3508
    im = Image.new("L", (w, h), 243)
    rnd = random.Random(5)
    draw = ImageDraw.Draw(im)
    for _ in range(400):
        x, y = rnd.randrange(w), rnd.randrange(h)
        draw.point((x, y), fill=rnd.randrange(190, 225))
    draw.rectangle([0, 0, 18, h], fill=215)  # scanner lid shadow on the left edge
    save_image_pdf([im], path)


# ----------------------------------------------------------------- DOCX


def render_docx(blocks, r, path: Path):
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    d = docx.Document()
    cp = d.core_properties
    cp.author = "Service politique de la ville"
    cp.title = "Convention d’engagement Quartiers productifs"
    cp.created = cp.modified = FIXED_DT.replace(tzinfo=None)
    cp.last_modified_by = "Service politique de la ville"
    cp.revision = 1
    d.styles["Normal"].font.name = "Calibri"
    d.styles["Normal"].font.size = Pt(11)
    sec = d.sections[0]
    if r.get("header"):
        sec.header.paragraphs[0].text = r["header"]
    if r.get("footer"):
        sec.footer.paragraphs[0].text = r["footer"]

    numbering = d.part.numbering_part.element
    # abstractNum behind the 'List Number' style
    style_numid = d.styles["List Number"].element.pPr.numPr.numId.val
    abstract = None
    for num in numbering.findall(qn("w:num")):
        if num.get(qn("w:numId")) == str(style_numid):
            abstract = num.find(qn("w:abstractNumId")).get(qn("w:val"))
    next_id = [max(int(n.get(qn("w:numId"))) for n in numbering.findall(qn("w:num"))) + 1]
    list_nums: dict[int, int] = {}

    def new_num():
        nid = next_id[0]
        next_id[0] += 1
        num = OxmlElement("w:num")
        num.set(qn("w:numId"), str(nid))
        an = OxmlElement("w:abstractNumId")
        an.set(qn("w:val"), abstract)
        num.append(an)
        ov = OxmlElement("w:lvlOverride")
        ov.set(qn("w:ilvl"), "0")
        so = OxmlElement("w:startOverride")
        so.set(qn("w:val"), "1")
        ov.append(so)
        num.append(ov)
        numbering.append(num)
        return nid

    first_title = True
    for b in blocks:
        t = b["t"]
        if t == "title":
            if first_title:
                d.add_heading(b["text"], level=0)
                first_title = False
            else:
                d.add_heading(b["text"], level=1)
        elif t == "h":
            d.add_heading(b["text"], level=2)
        elif t == "p":
            d.add_paragraph(b["text"])
        elif t == "li":
            if b["word"] == "number":
                p = d.add_paragraph(b["text"], style="List Number")
                if b["list"] not in list_nums:
                    list_nums[b["list"]] = new_num()
                pPr = p._p.get_or_add_pPr()
                numPr = OxmlElement("w:numPr")
                ilvl = OxmlElement("w:ilvl")
                ilvl.set(qn("w:val"), "0")
                numId = OxmlElement("w:numId")
                numId.set(qn("w:val"), str(list_nums[b["list"]]))
                numPr.append(ilvl)
                numPr.append(numId)
                pPr.insert(1, numPr)
            elif b["word"] == "bullet":
                d.add_paragraph(b["text"], style="List Bullet")
            else:
                d.add_paragraph(f"{b['marker']} {b['text']}", style="List Paragraph")
        elif t == "sig":
            for line in b["lines"]:
                if line:
                    d.add_paragraph(line)
        elif t == "sigtable":
            rows = b["rows"]
            table = d.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for i, row in enumerate(rows):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = cell
        elif t == "pagebreak":
            d.add_page_break()
    buf = io.BytesIO()
    d.save(buf)
    # rewrite the zip with fixed timestamps so the file is byte-for-byte reproducible
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(2021, 3, 18, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))


def render_corrupt(path: Path):
    path.write_bytes(random.Random(20210318).randbytes(7311))


# ----------------------------------------------------------------- driver


def render(spec):
    path = OUT / spec["file"]
    fmt = spec["fmt"]
    if fmt == "corrupt_docx":
        return render_corrupt(path)
    if fmt == "blank_scan":
        return render_blank_scan(path)
    blocks, _ = build(copy.deepcopy(spec))
    r = spec.get("render", {})
    if fmt == "txt":
        path.write_text(render_txt(blocks, r), encoding="utf-8")
    elif fmt == "pdf":
        render_pdf(blocks, r, path)
    elif fmt == "scan":
        render_scan(blocks, r, path)
    elif fmt == "mixed":
        render_mixed(blocks, r, path)
    elif fmt == "docx":
        render_docx(blocks, r, path)
    else:
        raise ValueError(fmt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    names = [s["file"] for s in DOCS]
    assert len(names) == len(set(names)), "duplicate file name"
    for spec in DOCS:
        if args.only and spec["file"] not in args.only:
            continue
        render(spec)
        print("wrote", spec["file"])


if __name__ == "__main__":
    main()
