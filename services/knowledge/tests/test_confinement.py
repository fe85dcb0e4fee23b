"""Hostile documents cannot take the indexer down: zip bombs are refused before parsing, a
parse beyond its time or memory limit is killed with its whole process group (soffice
included) and fails the document, and the worker goes on with the next one."""

import io
import os
import time
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from knowledge.main import create_app
from knowledge.settings import KnowledgeSettings
from knowledge.worker import ParserPool
from wa_testing.plugin import eventually, running_app


def zip_bomb_docx(real_docx: bytes, inflated_mb: int = 50) -> bytes:
    """A real DOCX with one more part: `inflated_mb` MB of zeros in a few KB."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(real_docx)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bomb,
    ):
        for item in source.infolist():
            bomb.writestr(item.filename, source.read(item.filename))
        with bomb.open("word/media/filler.bin", "w", force_zip64=True) as part:
            zeros = bytes(1024 * 1024)
            for _ in range(inflated_mb):
                part.write(zeros)
    return out.getvalue()


def flate_bomb_pdf(inflated_mb: int) -> bytes:
    """A one-page PDF with a line of text and a form XObject drawn by the page: a stream of
    a few hundred KB that inflates to `inflated_mb` MB. (A bomb in the page's own content
    stream is refused by unstructured's checks; one in a form reaches the parser.)"""
    compressor = zlib.compressobj(9)
    spaces = b" " * (1024 * 1024)
    form = bytearray()
    for _ in range(inflated_mb):
        form += compressor.compress(spaces)
    form += compressor.flush()
    content = b"BT /F1 12 Tf 20 50 Td (Refunds take five days.) Tj ET q /X1 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 100] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 400 100] /Length %d"
        b" /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(form), bytes(form)),
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(pdf)


def processes_in_groups(groups: set[int]) -> list[int]:
    """Live (not zombie) processes whose process group is one of `groups`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp in groups and state != "Z":
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_zip_bomb_docx_fails_at_once_and_the_next_document_is_indexed(
    client: Any, owner: dict[str, str], api: Any, make: SimpleNamespace
) -> None:
    bomb = zip_bomb_docx(make.docx("Returns", ["Returns are free within 30 days."]))
    assert len(bomb) < 200_000
    # A first document: the clock below is the bomb's, not the worker's loading its models.
    first = await api.upload(client, owner, "first.txt", b"Returns are free within 30 days.")
    assert (await api.wait_settled(client, owner, first.json()["id"]))["status"] == "indexed"
    started = time.monotonic()
    response = await api.upload(client, owner, "bomb.docx", bomb)
    assert response.status_code == 202, response.text
    failed = await api.wait_settled(client, owner, response.json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("The file is too large to parse: a part of it is compressed")
    assert time.monotonic() - started < 3

    ok = await api.upload(client, owner, "ok.txt", b"Shipping takes three days in Europe.")
    assert (await api.wait_settled(client, owner, ok.json()["id"]))["status"] == "indexed"


async def test_a_parse_past_the_deadline_is_killed_with_its_soffice_and_leaves_nothing(
    knowledge_settings: KnowledgeSettings, owner: dict[str, str], api: Any, make: SimpleNamespace
) -> None:
    paragraphs = [f"Paragraph {i} of the warranty terms, explained at length." for i in range(300)]
    doc = make.doc(make.docx("Warranty", paragraphs))
    pool = ParserPool(workers=1)  # its own: its worker is killed
    settings = knowledge_settings.model_copy(update={"parse_timeout_s": 0.6})
    try:
        async with running_app(create_app(settings, pool=pool)) as client:
            await pool.warm()
            [worker] = pool.processes()
            response = await api.upload(client, owner, "warranty.doc", doc)
            seen: set[int] = set()

            async def converter_started() -> bool:
                seen.update(descendants(worker))
                return any("soffice" in command_line(pid) for pid in list(seen) if alive(pid))

            await eventually(converter_started, timeout=10, interval=0.02)
            failed = await api.wait_settled(client, owner, response.json()["id"])
            assert failed["status"] == "failed"
            assert "parsing timed out" in failed["error"]

            # The worker's group (worker, soffice, watchdog) is gone, at once: no orphans.
            # The whole group (worker, soffice, watchdog) goes with one SIGKILL: once the
            # worker is gone, so is its converter (killing the worker alone orphans it).
            async def worker_gone() -> bool:
                return not alive(worker)

            await eventually(worker_gone, timeout=5, interval=0.01)
            assert [pid for pid in seen if alive(pid)] == []
            assert processes_in_groups({worker}) == []

            ok = await api.upload(client, owner, "ok.txt", b"Repairs are free for two years.")
            assert (await api.wait_settled(client, owner, ok.json()["id"]))["status"] == "indexed"
            assert pool.processes() and pool.processes() != [worker]  # a new worker
    finally:
        pool.close()


@pytest.mark.parametrize("inflated_mb", [600])
async def test_a_pdf_flate_bomb_hits_the_memory_limit_and_fails(
    knowledge_settings: KnowledgeSettings, owner: dict[str, str], api: Any, inflated_mb: int
) -> None:
    pool = ParserPool(workers=1)
    settings = knowledge_settings.model_copy(update={"parse_memory_mb": 256})
    try:
        async with running_app(create_app(settings, pool=pool)) as client:
            response = await api.upload(client, owner, "bomb.pdf", flate_bomb_pdf(inflated_mb))
            assert response.status_code == 202, response.text
            failed = await api.wait_settled(client, owner, response.json()["id"])
            assert failed["status"] == "failed"
            assert failed["error"] == (
                "The file is too large to parse: reading it needed more than 256 MB of memory."
            )
            ok = await api.upload(client, owner, "ok.txt", b"Exchanges take a week.")
            assert (await api.wait_settled(client, owner, ok.json()["id"]))["status"] == "indexed"
    finally:
        pool.close()


def test_a_worker_dies_with_its_parent_and_takes_its_group_along(tmp_path: Path) -> None:
    """PDEATHSIG + the group watchdog: a SIGKILLed service leaves no worker or converter."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, subprocess, sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "import multiprocessing\n"
        "from knowledge.worker import _configure_worker\n"
        "def start_converter():\n"
        "    # stands for soffice: a grandchild in the worker's group\n"
        "    return subprocess.Popen(['sleep', '60']).pid\n"
        "if __name__ == '__main__':\n"
        "    executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'),\n"
        "        initializer=_configure_worker, initargs=(os.getpid(),))\n"
        "    converter = executor.submit(start_converter).result()\n"
        "    worker = next(iter(executor._processes.values())).pid\n"
        "    print(worker, converter, flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    worker, converter = (int(x) for x in result.stdout.split())
    deadline = time.monotonic() + 5
    while (alive(worker) or alive(converter)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)
    assert not alive(converter)
    assert os.getpgid(os.getpid()) != worker
