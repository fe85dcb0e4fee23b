"""The worker processes that parse, chunk and embed documents, off the API's event loop.

A separate process keeps a CPU-heavy or crashing parser from stalling or killing the API:
a dead worker surfaces as `WorkerCrashed` (retried); one that overruns its document's time
or memory limit is killed with its process group (and any `soffice` in it), and the
document fails with the reason. A worker dies with the service (see knowledge.confinement).
"""

import asyncio
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import structlog

from knowledge.confinement import (
    ParseLimits,
    ParseTooLarge,
    confine_worker,
    kill_group,
    limited,
)
from knowledge.parsing import (
    ChunkingOptions,
    ParsedChunk,
    ParseError,
    parse_document,
    preload_parsers,
)

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


def _out_of_memory(exc: BaseException) -> bool:
    """MemoryError, or an error a parser raised while handling one (ours wrap theirs)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def index_file(
    data: bytes,
    filename: str,
    file_type: str,
    options: ChunkingOptions,
    embed: bool,
    limits: ParseLimits | None = None,
    e5_max_chunks: int = 0,
) -> IndexedFile:
    """Runs in a worker process: parse, chunk and (optionally) embed one file, within the
    memory and CPU limits (see knowledge.confinement); with e5 too when it has at most
    `e5_max_chunks` chunks (~0.5 s each; its model is loaded at warm-up, outside the limits)."""
    limits = limits or ParseLimits()
    preload_parsers()  # once per process, outside the limits (see parsing.preload_parsers)
    if embed:
        from knowledge import embeddings

        embeddings.load_model()
    started = time.perf_counter()
    try:
        with limited(limits):
            chunks = parse_document(data, filename, file_type, options, limits)
            parsed = time.perf_counter()
            vectors = e5_vectors = None
            if embed:
                from knowledge import e5, embeddings

                texts = [embedding_text(chunk) for chunk in chunks]
                vectors = [embeddings.to_bytes(row) for row in embeddings.encode(texts)]
                if len(chunks) <= e5_max_chunks:
                    e5_vectors = [e5.to_bytes(row) for row in e5.encode_passages(texts)]
    except Exception as exc:
        if _out_of_memory(exc):
            raise ParseTooLarge(str(exc)[:200]) from None
        raise
    return IndexedFile(chunks, vectors, parsed - started, time.perf_counter() - parsed, e5_vectors)


def embed_e5(passages: list[str]) -> tuple[list[bytes], float]:
    """Runs in a worker process: the e5 vectors of passages (float16 bytes), and the time."""
    from knowledge import e5

    started = time.perf_counter()
    vectors = [e5.to_bytes(row) for row in e5.encode_passages(passages)]
    return vectors, time.perf_counter() - started


def _configure_worker(parent_pid: int) -> None:
    from knowledge.parsing import configure_offline

    confine_worker(parent_pid)
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

    preload_parsers()  # every format's partitioner, not only the two parsed below
    parse_document(b"Warm-up text.", "warm-up.txt", "txt", ChunkingOptions())
    parse_document(tiny_pdf(), "warm-up.pdf", "pdf", ChunkingOptions())
    embeddings.encode(["warm-up"])
    e5.encode_passages(["warm-up"])


class _Worker:
    """One worker process (a single-process executor): killed alone when its document
    times out, runs out of memory or is abandoned, without touching the other workers."""

    def __init__(self) -> None:
        # spawn: never fork a process that runs an event loop and threads.
        self.executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_configure_worker,
            initargs=(os.getpid(),),
        )
        # Models load before the first document's deadline starts.
        self.warming: Future[None] = self.executor.submit(warm_up)
        self.warm_up_reported = False

    def pids(self) -> list[int]:
        return [p.pid for p in getattr(self.executor, "_processes", {}).values() if p.pid]

    async def warmed(self) -> None:
        """Wait for the worker's warm-up (at once when done); raises if the worker died."""
        try:
            await asyncio.wrap_future(self.warming)
        except BrokenProcessPool:
            raise
        except Exception as exc:  # the first real document will say what is wrong
            if not self.warm_up_reported:
                self.warm_up_reported = True
                log.warning("parser.warm_up_failed", error=repr(exc))

    def kill(self) -> None:
        # shutdown() stops neither a busy worker nor the soffice it started: kill the group.
        for pid in self.pids():
            kill_group(pid)
        self.executor.shutdown(wait=False, cancel_futures=True)


class ParserPool:
    """`workers` spawned worker processes, started lazily and reused from one document to
    the next; one that crashed, timed out or ran out of memory is killed with its process
    group and replaced. Not tied to an event loop (tests share one pool across loops)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._live: list[_Worker] = []
        self._idle: list[_Worker] = []
        # Each worker in use, with the task using it.
        self._busy: dict[_Worker, asyncio.Task[Any] | None] = {}

    def _reclaim_abandoned(self) -> None:
        """A worker whose task ended without giving it back (its event loop was closed
        under it) is in an unknown state: kill it, so that it is replaced."""
        for worker, task in list(self._busy.items()):
            if task is not None and (task.done() or task.get_loop().is_closed()):
                log.warning("parser.worker_abandoned", pids=worker.pids())
                del self._busy[worker]
                self._live.remove(worker)
                worker.kill()

    def _take(self) -> _Worker | None:
        self._reclaim_abandoned()
        if self._idle:
            worker = self._idle.pop()
        elif len(self._live) < self.workers:
            worker = _Worker()
            self._live.append(worker)
        else:
            return None
        self._busy[worker] = asyncio.current_task()
        return worker

    async def _acquire(self) -> _Worker:
        # The Indexer never asks for more than `workers` at once; other callers poll here
        # (an asyncio primitive would tie the pool to one event loop).
        while (worker := self._take()) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return worker

    def _give_back(self, worker: _Worker, *, keep: bool) -> None:
        if self._busy.pop(worker, False) is False:  # reclaimed meanwhile
            return
        if keep:
            self._idle.append(worker)
        else:
            self._live.remove(worker)
            worker.kill()

    def processes(self) -> list[int]:
        """The pids of the live workers (each leads its own process group)."""
        return [pid for worker in self._live for pid in worker.pids()]

    async def warm(self) -> None:
        """Start the workers now and wait until they have loaded the models."""
        while len(self._live) < self.workers:
            worker = _Worker()
            self._live.append(worker)
            self._idle.append(worker)
        for worker in list(self._live):
            try:
                await worker.warmed()
            except BrokenProcessPool as exc:  # replaced when next taken for a document
                log.warning("parser.warm_up_failed", error=repr(exc))
                if worker in self._idle:
                    self._idle.remove(worker)
                    self._live.remove(worker)
                    worker.kill()

    async def run(
        self,
        data: bytes,
        filename: str,
        file_type: str,
        options: ChunkingOptions,
        *,
        embed: bool,
        limits: ParseLimits,
        e5_max_chunks: int = 0,
    ) -> IndexedFile:
        """Index one file in a worker, within `limits`. A worker that overran them, crashed,
        or whose caller was cancelled (shutdown) is killed with its whole process group."""
        worker = await self._acquire()
        keep = False
        try:
            await worker.warmed()
            future = asyncio.wrap_future(
                worker.executor.submit(
                    index_file, data, filename, file_type, options, embed, limits, e5_max_chunks
                )
            )
            result = await asyncio.wait_for(future, limits.timeout_s)
            keep = True
            return result
        except BrokenProcessPool as exc:
            raise WorkerCrashed("the parser process died while reading the file") from exc
        except TimeoutError as exc:
            raise ParseError(
                f"Reading the file took longer than {limits.timeout_s:.0f} s (parsing timed "
                "out); it may be too complex."
            ) from exc
        except ParseTooLarge as exc:
            raise ParseError(
                f"The file is too large to parse: reading it needed more than "
                f"{limits.memory_mb} MB of memory."
            ) from exc
        except Exception:  # raised by the parser: its worker is fine
            keep = True
            raise
        finally:
            self._give_back(worker, keep=keep)

    async def embed_e5(self, passages: list[str], *, timeout: float) -> list[bytes]:
        """e5 vectors of passages, computed in a worker; one that crashed or overran
        `timeout` is killed with its group and replaced, as in `run`."""
        worker = await self._acquire()
        keep = False
        try:
            await worker.warmed()
            future = asyncio.wrap_future(worker.executor.submit(embed_e5, passages))
            vectors, seconds = await asyncio.wait_for(future, timeout)
            keep = True
        except BrokenProcessPool as exc:
            raise WorkerCrashed("the embedding process died") from exc
        finally:
            self._give_back(worker, keep=keep)
        log.debug("e5.embedded", passages=len(passages), seconds=round(seconds, 2))
        return vectors

    def close(self) -> None:
        live, self._live, self._idle = self._live, [], []
        for worker in live:
            worker.executor.shutdown(wait=True, cancel_futures=True)


__all__ = ["IndexedFile", "ParseError", "ParseLimits", "ParserPool", "WorkerCrashed"]
