"""Illustrative documents in the other forms territories circulate: a Word .docx file, and the scan of a signed
paper (image-only PDF pages). Both are written byte for byte the same from the same paragraphs, like every
generated file."""

import datetime as dt
import io
import time
import zipfile

_FIXED_ZIP_TIME = (2021, 3, 18, 0, 0, 0)
_SCAN_TIME = time.gmtime(dt.datetime(2021, 3, 18, tzinfo=dt.UTC).timestamp())


def paragraphs_docx(paragraphs: list[tuple[str, str]], created: dt.datetime) -> bytes:
    """A Word document of (kind, text) paragraphs: 'h' a bold heading, 'b' a bulleted paragraph (Word's List
    Bullet style), 'li' a list item whose marker is typed in the text, 'p' text, 'gap' an empty paragraph."""
    import docx

    document = docx.Document()
    props = document.core_properties
    props.author, props.title = "qp-analytics generator", "Convention Quartiers productifs (illustrative)"
    props.created = props.modified = created.replace(tzinfo=None)
    props.last_modified_by, props.revision = "qp-analytics generator", 1
    for kind, text in paragraphs:
        if kind == "gap":
            document.add_paragraph("")
        elif kind == "h":
            document.add_paragraph().add_run(text).bold = True
        elif kind == "b":
            document.add_paragraph(text, style="List Bullet")
        else:
            document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return _reproducible_zip(buffer.getvalue())


def _reproducible_zip(data: bytes) -> bytes:
    """The same archive with fixed entry dates: zipfile stamps each entry with the time of writing."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def scanned_pdf(pdf: bytes, dpi: int = 300) -> bytes:
    """The pages of a PDF as a scanner gives them back: grey images, no text layer."""
    import pypdfium2
    from PIL import Image

    document = pypdfium2.PdfDocument(pdf)
    try:
        pages = [document[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
                 for i in range(len(document))]
    finally:
        document.close()
    # A light grey paper: what a scanner's background looks like; the ink stays black.
    pages = [Image.eval(page, lambda v: min(v, 238)) for page in pages]
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=dpi,
                  title="scan (illustrative)", producer="qp-analytics generator",
                  creationDate=_SCAN_TIME, modDate=_SCAN_TIME)
    return out.getvalue()
