"""Extraction and chunking of real files of every supported format (in-process)."""

import io
from types import SimpleNamespace
from typing import Any

import pytest

from knowledge.parsing import (
    ChunkingOptions,
    ParseError,
    UnsupportedFileType,
    detect_kind,
    parse_document,
)

OPTIONS = ChunkingOptions(max_chars=600, soft_chars=400, overlap_chars=50)
PAGES = [
    ("Returns policy", "You can return any unworn item within 30 days of delivery. " * 3),
    ("Shipping", "Orders ship from our warehouse in Porto within two business days. " * 3),
    ("Warranty", "Electronics carry a two year warranty covering manufacturing defects. " * 3),
]


def text_of(chunks: list) -> str:  # type: ignore[type-arg]
    return "\n".join(chunk.text for chunk in chunks)


def test_pdf_chunks_cite_their_page(make: SimpleNamespace) -> None:
    data = make.pdf(PAGES)
    assert detect_kind(data, "policy.pdf").file_type == "pdf"
    chunks = parse_document(data, "policy.pdf", "pdf", OPTIONS)
    by_page = {chunk.page_number: chunk.text for chunk in chunks}
    assert set(by_page) == {1, 2, 3}
    assert "30 days" in by_page[1] and "Porto" in by_page[2] and "warranty" in by_page[3]
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert {c.language for c in chunks} == {"eng"}


def test_long_sections_are_split_with_overlap_within_the_size(make: SimpleNamespace) -> None:
    body = " ".join(
        f"Sentence number {i} explains one more detail of the policy." for i in range(60)
    )
    chunks = parse_document(make.pdf([("Long policy", body)]), "long.pdf", "pdf", OPTIONS)
    assert len(chunks) >= 4
    assert all(len(chunk.text) <= OPTIONS.max_chars for chunk in chunks)
    # Overlap: the start of each later chunk repeats the end of the one before.
    assert chunks[1].text[:20] in chunks[0].text


def test_docx_keeps_headings_lists_and_tables(make: SimpleNamespace) -> None:
    data = make.docx("Shipping policy", ["We ship worldwide in three days."], ["Tracked parcels"])
    assert detect_kind(data, "shipping.docx").file_type == "docx"
    chunks = parse_document(data, "shipping.docx", "docx", OPTIONS)
    text = text_of(chunks)
    assert "We ship worldwide in three days." in text
    assert "Tracked parcels" in text
    assert "Europe" in text and "5 EUR" in text  # the table's cells
    assert chunks[0].section == "Shipping policy"


def test_legacy_doc_is_converted_by_libreoffice(make: SimpleNamespace) -> None:
    data = make.doc(make.docx("Opening hours", ["We open at nine, Monday to Saturday."]))
    assert data.startswith(b"\xd0\xcf\x11\xe0")  # OLE2: a real legacy .doc
    assert detect_kind(data, "hours.doc").file_type == "doc"
    chunks = parse_document(data, "hours.doc", "doc", OPTIONS)
    assert "We open at nine, Monday to Saturday." in text_of(chunks)


@pytest.mark.parametrize(
    ("name", "data", "kind", "expected", "section"),
    [
        (
            "notes.txt",
            b"Gift cards never expire.\n\nThey work online too.",
            "txt",
            "never expire",
            None,
        ),
        (
            "faq.md",
            b"# Payments\n\nWe accept **cards** and PayPal.\n\n- Visa\n- Mastercard\n",
            "md",
            "PayPal",
            "Payments",
        ),
        (
            "page.html",
            b"<!doctype html><html><body><h1>Garantia</h1><p>Os produtos tem garantia de dois anos "
            b"contra defeitos de fabrico.</p></body></html>",
            "html",
            "dois anos",
            "Garantia",
        ),
        ("prices.csv", b"plan,price\nbasic,10\ngold,99\n", "csv", "gold", None),
    ],
)
def test_text_formats(
    name: str, data: bytes, kind: str, expected: str, section: str | None
) -> None:
    assert detect_kind(data, name).file_type == kind
    chunks = parse_document(data, name, kind, OPTIONS)
    assert expected in text_of(chunks)
    assert chunks[0].section == section


def test_html_language_is_detected() -> None:
    data = (
        "<html><body><p>Puede devolver cualquier artículo sin usar dentro de los treinta días "
        "posteriores a la entrega para obtener un reembolso completo.</p></body></html>"
    ).encode()
    [chunk] = parse_document(data, "devoluciones.html", "html", OPTIONS)
    assert chunk.language == "spa"


def test_xlsx() -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["plan", "price"])
    sheet.append(["platinum", 199])
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    assert detect_kind(data, "plans.xlsx").file_type == "xlsx"
    assert "platinum" in text_of(parse_document(data, "plans.xlsx", "xlsx", OPTIONS))


def test_type_comes_from_the_content_not_the_name(make: SimpleNamespace) -> None:
    pdf = make.pdf(PAGES[:1])
    assert detect_kind(pdf, "policy.txt").file_type == "pdf"  # a PDF with a wrong name
    with pytest.raises(UnsupportedFileType, match=r"named \.docx"):
        detect_kind(b"plain words", "letter.docx")
    with pytest.raises(UnsupportedFileType, match="unsupported file type"):
        detect_kind(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4, "report.txt")
    with pytest.raises(UnsupportedFileType, match="unsupported file type"):
        detect_kind(bytes(range(256)) * 8, "blob")


def test_unreadable_files_raise_a_readable_reason(make: SimpleNamespace) -> None:
    with pytest.raises(ParseError, match="damaged"):
        parse_document(b"%PDF-1.4\n" + bytes(range(256)) * 4, "x.pdf", "pdf", OPTIONS)
    with pytest.raises(ParseError, match="password-protected"):
        parse_document(make.pdf(PAGES, password="pw"), "x.pdf", "pdf", OPTIONS)
    with pytest.raises(ParseError, match="could not be read as DOCX"):
        parse_document(b"PK\x03\x04" + bytes(100), "x.docx", "docx", OPTIONS)
    with pytest.raises(ParseError, match="No text could be extracted"):
        parse_document(make.pdf([("", "")]), "blank.pdf", "pdf", OPTIONS)


def test_the_warm_up_pdf_is_a_real_pdf_with_text() -> None:
    from knowledge.worker import tiny_pdf

    chunks = parse_document(tiny_pdf("Opening hours"), "warm.pdf", "pdf", OPTIONS)
    assert [(c.text, c.page_number) for c in chunks] == [("Opening hours", 1)]


def test_spacy_counts_sentences_with_its_sentence_recogniser_not_the_parser() -> None:
    """unstructured needs sentence boundaries and POS tags only; `senter` gives them at
    half the parser's cost (and the titles/narrative split stays as it was)."""
    from unstructured.nlp.tokenize import _get_nlp, pos_tag, sent_tokenize

    from knowledge.parsing import configure_offline

    configure_offline()
    _get_nlp.cache_clear()
    assert set(_get_nlp().pipe_names) == {"tok2vec", "tagger", "senter"}
    assert len(sent_tokenize("We ship in two days. Returns are free for 30 days.")) == 2
    assert ("ship", "VBP") in pos_tag("We ship in two days.")


def test_a_nul_in_a_document_s_text_is_dropped() -> None:
    """Postgres text cannot store NUL: a document with one failed when its chunks were
    stored. The character is dropped; the text around it is kept."""
    chunks = parse_document(
        b"Returns\n\nBikes can be\x00 returned within 30 days.\x00",
        "returns.txt",
        "txt",
        ChunkingOptions(),
    )
    assert chunks, "the text is kept"
    assert all("\x00" not in c.text and "\x00" not in (c.context or "") for c in chunks)
    assert "Bikes can be returned within 30 days." in " ".join(c.text for c in chunks)


def test_a_chunk_holds_one_section_and_is_labelled_with_its_own_heading() -> None:
    """A PDF's numbered headings are narrative text to unstructured: chunking by its titles
    put the end of one section and the start of the next in one chunk, labelled with the
    next. Sections are cut at every heading, and the end of a list item that the PDF calls
    a title ("the same day.") is not taken for one."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    body = getSampleStyleSheet()["BodyText"]
    sections = [
        ("10. What the warranty does not cover", "The warranty does not cover normal wear."),
        ("11. E-bike batteries", "Lithium-ion batteries lose some capacity as they age."),
        ("12. Crash replacement programme", "After a crash we give you 40% off a new frame."),
    ]
    story: list[Any] = [Paragraph("Warranty terms", getSampleStyleSheet()["Heading1"])]
    for heading, text in sections:
        story += [Spacer(1, 12), Paragraph(heading, body), Paragraph(text, body)]
    story += [Paragraph("Refunds reach your card", body), Paragraph("the same day.", body)]
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4).build(story)

    chunks = parse_document(buffer.getvalue(), "terms.pdf", "pdf", ChunkingOptions())
    for heading, text in sections:
        [chunk] = [c for c in chunks if text in c.text]
        assert chunk.section == heading and chunk.text.startswith(heading), chunks
        assert all(other not in chunk.text for other, _ in sections if other != heading)
        assert chunk.context == f"Warranty terms: {heading}"
    assert all(c.section != "the same day." for c in chunks), chunks
