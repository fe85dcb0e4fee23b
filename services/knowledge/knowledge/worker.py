"""The process pool that parses, chunks and embeds documents, off the API's event loop.

A separate process keeps a CPU-heavy or crashing parser from stalling or killing the API:
a dead worker surfaces as `WorkerCrashed` (retried), a hung one is killed at the timeout.
"""

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import structlog

from knowledge.parsing import ChunkingOptions, ParsedChunk, ParseError, parse_document

log = structlog.get_logger(__name__)


class WorkerCrashed(Exception):
    """The worker process died mid-parse (a retry may succeed; attempts are counted)."""


@dataclass(frozen=True)
class IndexedFile:
    chunks: list[ParsedChunk]
    embeddings: list[bytes] | None
    parse_s: float = 0.0  # partition + chunk, in the worker
    embed_s: float = 0.0
    # e5 vectors, for a document small enough to embed at once (else the backfill does it)
    e5_embeddings: list[bytes] | None = None


def embedding_text(chunk: ParsedChunk) -> str:
    """What a chunk is embedded as: its context (title, section) leads, so that a passage
    saying "60 days" is known to be about returns of accessories."""
    return f"{chunk.context}\n{chunk.text}" if chunk.context else chunk.text


def index_file(
    data: bytes,
    filename: str,
    file_type: str,
    options: ChunkingOptions,
    embed: bool,
    e5_max_chunks: int = 0,
) -> IndexedFile:
    """Runs in a worker process: parse, chunk and (optionally) embed one file; with e5 too
    when it has at most `e5_max_chunks` chunks (~0.5 s each)."""
    started = time.perf_counter()
    chunks = parse_document(data, filename, file_type, options)
    parsed = time.perf_counter()
    vectors = e5_vectors = None
    if embed:
        from knowledge import e5, embeddings

        texts = [embedding_text(chunk) for chunk in chunks]
        vectors = [embeddings.to_bytes(row) for row in embeddings.encode(texts)]
        if len(chunks) <= e5_max_chunks:
            e5_vectors = [e5.to_bytes(row) for row in e5.encode_passages(texts)]
    return IndexedFile(chunks, vectors, parsed - started, time.perf_counter() - parsed, e5_vectors)


def embed_e5(passages: list[str]) -> tuple[list[bytes], float]:
    """Runs in a worker process: the e5 vectors of passages (float16 bytes), and the time."""
    from knowledge import e5

    started = time.perf_counter()
    vectors = [e5.to_bytes(row) for row in e5.encode_passages(passages)]
    return vectors, time.perf_counter() - started


def _configure_worker() -> None:
    from knowledge.parsing import configure_offline

    configure_offline()


def tiny_pdf(text: str = "Warm-up text for the parser.") -> bytes:
    """A one-page PDF with a text layer (Helvetica), written by hand: no PDF library needed."""
    stream = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 100] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def warm_up() -> None:
    """Runs in a worker: load unstructured, spaCy and the sentence encoder once, up front.

    A PDF too: its stack (pdfminer, and the modules unstructured's PDF partitioner imports:
    cv2, pandas, scipy, onnx…) takes ~2-4 s to import, which the first document would pay.
    """
    from knowledge import e5, embeddings

    parse_document(b"Warm-up text.", "warm-up.txt", "txt", ChunkingOptions())
    parse_document(tiny_pdf(), "warm-up.pdf", "pdf", ChunkingOptions())
    embeddings.encode(["warm-up"])
    e5.encode_passages(["warm-up"])


class ParserPool:
    """A lazily started pool of `workers` spawned processes; rebuilt after a crash."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: never fork a process that runs an event loop and threads.
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_configure_worker,
            )
        return self._executor

    async def warm(self) -> None:
        """Start the workers and load the models now, not on the first document."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool(), warm_up)
        except Exception as exc:  # the first real document will say what is wrong
            log.warning("parser.warm_up_failed", error=repr(exc))

    async def run(
        self,
        data: bytes,
        filename: str,
        file_type: str,
        options: ChunkingOptions,
        *,
        embed: bool,
        timeout: float,
        e5_max_chunks: int = 0,
    ) -> IndexedFile:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._pool(), index_file, data, filename, file_type, options, embed, e5_max_chunks
        )
        try:
            return await asyncio.wait_for(future, timeout)
        except BrokenProcessPool as exc:
            self._discard()
            raise WorkerCrashed("the parser process died while reading the file") from exc
        except TimeoutError as exc:
            self._discard()
            raise ParseError(
                f"Reading the file took longer than {timeout:.0f} s; it may be too complex."
            ) from exc

    async def embed_e5(self, passages: list[str], *, timeout: float) -> list[bytes]:
        """e5 vectors of passages, computed in a worker (a crash or hang as in `run`)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool(), embed_e5, passages)
        try:
            vectors, seconds = await asyncio.wait_for(future, timeout)
        except BrokenProcessPool as exc:
            self._discard()
            raise WorkerCrashed("the embedding process died") from exc
        except TimeoutError:
            self._discard()
            raise
        log.debug("e5.embedded", passages=len(passages), seconds=round(seconds, 2))
        return vectors

    def _discard(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # A hung worker is not stopped by shutdown(): kill the processes themselves.
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


__all__ = ["IndexedFile", "ParseError", "ParserPool", "WorkerCrashed"]
