"""The JHT statement as a PDF a participant downloads: "Rincian Saldo JHT", year by year
(saldo awal, iuran, hasil pengembangan, klaim, saldo akhir), from the ledger's statement
reply, drawn with reportlab (BSD licence, the usual Python PDF library).

Pure: ``statement_pdf(statement, printed_at)`` returns the bytes. The text is not
compressed, so what the PDF says can be checked by reading it.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from atmsim.kernel.masking import mask_name
from atmsim.kernel.money import format_date, format_rupiah

__all__ = ["statement_pdf"]

_COLUMNS = (("Tahun", 20), ("Saldo awal", 34), ("Iuran", 30), ("Pengembangan", 32),
            ("Klaim", 26), ("Saldo akhir", 34))


def statement_pdf(statement: dict[str, Any], printed_at: datetime) -> bytes:
    """The PDF of a statement reply (``result`` OK; docs/ledger.md "Statement").

    >>> pdf = statement_pdf({"kpj": "10012345678", "name": "Budi Santoso",
    ...     "status": "AKTIF", "segment": "PU", "member_since": "2009-07-01",
    ...     "as_of": "2026-11-30", "balance_sen": 150, "years": [{"year": 2026,
    ...     "opening_sen": 100, "contributions_sen": 50, "returns_sen": 0,
    ...     "claims_sen": 0, "closing_sen": 150, "return_rate_percent": None}]},
    ...     datetime(2026, 12, 1, 10, 0))
    >>> pdf.startswith(b"%PDF-"), b"Rp1,50" in pdf
    (True, True)
    """
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=0, invariant=1)
    canvas.setTitle(f"Rincian Saldo JHT {statement['kpj']}")
    canvas.setAuthor("BPJS Ketenagakerjaan (atmsim simulator)")
    width, height = A4
    y = height - 25 * mm

    def line(text: str, size: float = 10, bold: bool = False, x: float = 20 * mm) -> None:
        nonlocal y
        canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        canvas.drawString(x, y, text)

    line("BPJS Ketenagakerjaan - Rincian Saldo JHT (JHT balance statement)", 13, True)
    y -= 6 * mm
    line("Simulasi atmsim: data uji, bukan data nyata / test data, not real", 8)
    y -= 10 * mm
    as_of = date.fromisoformat(statement["as_of"])
    for label, value in (
            ("Nomor KPJ", statement["kpj"]),
            ("Nama", statement["name"]),
            ("Status", statement["status"]),
            ("Segmen", statement["segment"]),
            ("Peserta sejak", format_date(date.fromisoformat(statement["member_since"]))),
            ("Saldo JHT per " + format_date(as_of), format_rupiah(statement["balance_sen"]))):
        line(f"{label}", 10, True)
        line(f": {value}", 10, False, 62 * mm)
        y -= 6 * mm
    y -= 6 * mm
    x = 20 * mm
    for title, w in _COLUMNS:
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawString(x, y, title)
        x += w * mm
    y -= 2 * mm
    canvas.line(20 * mm, y, width - 20 * mm, y)
    y -= 5 * mm
    for year in statement["years"]:
        if y < 25 * mm:
            canvas.showPage()
            y = height - 25 * mm
        x = 20 * mm
        cells = (str(year["year"]), format_rupiah(year["opening_sen"]),
                 format_rupiah(year["contributions_sen"]), format_rupiah(year["returns_sen"]),
                 format_rupiah(year["claims_sen"]), format_rupiah(year["closing_sen"]))
        for text, (_title, w) in zip(cells, _COLUMNS, strict=True):
            canvas.setFont("Helvetica", 8.5)
            canvas.drawString(x, y, text.removeprefix("Rp") if x > 20 * mm else text)
            x += w * mm
        y -= 5 * mm
    y -= 6 * mm
    canvas.setFont("Helvetica", 8)
    canvas.drawString(20 * mm, y, f"Dicetak / printed {printed_at:%d/%m/%Y %H:%M} untuk "
                                  f"{mask_name(statement['name'])}. Angka dalam rupiah.")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
