"""Tiny PDFs written by hand, for the evals and tests that need real PDF files (no PDF
writer is a dependency): one page, Helvetica, one text line per paragraph."""

from __future__ import annotations

from collections.abc import Sequence


def assemble(objects: Sequence[bytes]) -> bytes:
    """A PDF file from its numbered objects (1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def page(stream: bytes, catalog_extra: bytes = b"", stream_extra: bytes = b"") -> bytes:
    """One page whose content stream is ``stream``; extras go into the catalog (e.g. an
    /OpenAction) and the stream's dictionary (e.g. a /Filter)."""
    return assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
            b" /Contents 4 0 R >>",
            b"<< /Length %d " % len(stream) + stream_extra + b">>\nstream\n" + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def text_pdf(paragraphs: Sequence[str]) -> bytes:
    """A page with one line per paragraph (Latin-1 text)."""
    lines = []
    for n, paragraph in enumerate(paragraphs):
        text = paragraph.encode("latin-1", "replace").decode("latin-1")
        text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        lines.append(f"BT /F1 9 Tf 36 {760 - 40 * n} Td ({text}) Tj ET")
    return page("\n".join(lines).encode("latin-1"))
