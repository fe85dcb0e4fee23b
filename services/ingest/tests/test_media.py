"""Inbound media under heavy input: streamed from the Graph API into the database in chunks,
capped while streaming, a few downloads at a time, served back in chunks."""

import hashlib
import time
import tracemalloc
import uuid
from typing import Any

from wa_testing.fakes import GeneratedMedia
from wa_testing.plugin import eventually

TOKEN = "EAAG-test-token"
MIB = 1024 * 1024


def image(media_id: str) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "image",
        "image": {"id": media_id, "mime_type": "image/png", "sha256": "x"},
    }


async def settled_media(
    platform: Any, owner: dict[str, str], count: int, *, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The conversation's messages once `count` media are no longer pending."""
    [conversation] = await platform.wait_conversation(owner)

    async def done() -> list[dict[str, Any]] | None:
        items = await platform.messages(owner, conversation["id"])
        finished = [m for m in items if m["media"] and m["media"]["status"] != "pending"]
        return items if len(finished) >= count else None

    result: list[dict[str, Any]] = await eventually(done, timeout=timeout)
    return result


async def stored_rows(platform: Any, message_id: str) -> tuple[int, int]:
    [row] = await platform.sql(
        "select (select count(*) from ingest.media_files where message_id = :id) as files,"
        " (select count(*) from ingest.media_chunks where message_id = :id) as chunks",
        id=message_id,
    )
    return int(row.files), int(row.chunks)


async def test_a_media_of_several_mib_is_streamed_to_storage_and_back(platform: Any) -> None:
    owner = platform.tenant()
    channel = await platform.channel(owner, token=TOKEN)
    big = GeneratedMedia(6 * MIB + 12_345, "video/mp4")
    platform.graph.media["MEDIA-BIG"] = big
    await platform.inbound(channel["phone_number_id"], [image("MEDIA-BIG")])
    [message] = await settled_media(platform, owner, 1)
    assert message["media"]["status"] == "stored", message["media"]
    assert message["media"]["size_bytes"] == big.size

    # In the database: pieces of MEDIA_CHUNK_BYTES, in order, adding up to the file.
    [row] = await platform.sql(
        "select count(*) as n, max(length(content)) as largest,"
        " sha256(string_agg(content, ''::bytea order by seq)) as digest"
        " from ingest.media_chunks where message_id = :id",
        id=message["id"],
    )
    chunk = 256 * 1024
    assert row.n == -(-big.size // chunk) and row.largest == chunk
    assert bytes(row.digest) == big.sha256()

    # Served back whole, streamed.
    digest, size = hashlib.sha256(), 0
    async with platform.ingest.stream("GET", message["media"]["url"], headers=owner) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "video/mp4"
        assert r.headers["content-length"] == str(big.size)
        async for piece in r.aiter_bytes():
            digest.update(piece)
            size += len(piece)
    assert size == big.size and digest.digest() == big.sha256()


async def test_media_over_the_cap_is_refused_with_the_reason_and_nothing_kept(
    platform_with: Any, graph: Any
) -> None:
    async with platform_with(media_max_bytes=2 * MIB) as platform:
        owner = platform.tenant()
        channel = await platform.channel(owner, token=TOKEN)
        # No file_size in the media info: only the download shows it is too big.
        graph.media["MEDIA-SILENT"] = GeneratedMedia(3 * MIB, declare_size=False)
        graph.media["MEDIA-DECLARED"] = GeneratedMedia(3 * MIB)
        await platform.inbound(
            channel["phone_number_id"], [image("MEDIA-SILENT"), image("MEDIA-DECLARED")]
        )
        items = await settled_media(platform, owner, 2)
        reason = f"media larger than {2 * MIB} bytes"
        assert [m["media"]["status"] for m in items] == ["failed", "failed"]
        assert [m["media"]["error"] for m in items] == [reason, reason]
        for m in items:
            assert await stored_rows(platform, m["id"]) == (0, 0)
            r = await platform.ingest.get(f"/api/messages/{m['id']}/media", headers=owner)
            assert r.status_code == 404
        downloads = [q.path for q in graph.requests if q.path.startswith("/download/")]
        # The declared size is refused before any byte is downloaded.
        assert downloads == ["/download/MEDIA-SILENT"]


async def test_many_big_media_at_once_hold_prefetch_times_chunk_not_their_total(
    platform: Any, graph: Any
) -> None:
    """12 files of 8 MiB (96 MiB) arrive together: the media consumer takes MEDIA_PREFETCH (4)
    at a time and each holds about a chunk (256 KiB), so the peak of Python memory allocated
    meanwhile stays a few MiB, not 96 MiB (the whole-body download held 2 x each file)."""
    owner = platform.tenant()
    channel = await platform.channel(owner, token=TOKEN)
    files = 12
    for i in range(files):
        graph.media[f"MEDIA-{i}"] = GeneratedMedia(8 * MIB)
    tracemalloc.start()
    try:
        await platform.inbound(
            channel["phone_number_id"], [image(f"MEDIA-{i}") for i in range(files)]
        )
        items = await settled_media(platform, owner, files, timeout=120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [m["media"]["status"] for m in items] == ["stored"] * files
    assert graph.max_downloads_in_flight <= 4
    print(f"\npeak traced memory for {files} x 8 MiB media: {peak / MIB:.1f} MiB")
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"


async def test_customer_media_is_served_sandboxed_and_only_pictures_and_sound_inline(
    platform: Any, graph: Any
) -> None:
    """A customer declares the type of the bytes they send: HTML or SVG opened by an agent
    from the dashboard's origin would run the customer's script with the agent's session."""
    owner = platform.tenant()
    channel = await platform.channel(owner, token=TOKEN)
    script = b"<script>fetch('/api/team/members')</script>"
    graph.media["MEDIA-HTML"] = (b"<html>" + script + b"</html>", "text/html")
    graph.media["MEDIA-SVG"] = (
        b"<svg xmlns='http://www.w3.org/2000/svg'>" + script,
        "image/svg+xml",
    )
    graph.media["MEDIA-PDF"] = (b"%PDF-1.4 ...", "application/pdf")
    graph.media["MEDIA-PNG"] = (b"\x89PNG\r\n\x1a\n...", "image/png")
    graph.media["MEDIA-VOICE"] = (b"OggS...", "audio/ogg; codecs=opus")
    names = ["MEDIA-HTML", "MEDIA-SVG", "MEDIA-PDF", "MEDIA-PNG", "MEDIA-VOICE"]
    await platform.inbound(channel["phone_number_id"], [image(n) for n in names])
    items = await settled_media(platform, owner, len(names))
    served = {}
    for m in items:
        assert m["media"]["status"] == "stored", m["media"]
        r = await platform.ingest.get(m["media"]["url"], headers=owner)
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        assert r.headers["cross-origin-resource-policy"] == "same-origin"
        [row] = await platform.sql(
            "select mime_type from ingest.media_files where message_id = :id", id=m["id"]
        )
        served[row.mime_type.split(";")[0]] = (
            r.headers["content-type"],
            r.headers["content-disposition"],
        )
    for declared in ("text/html", "image/svg+xml", "application/pdf"):
        content_type, disposition = served[declared]
        assert content_type == "application/octet-stream", declared
        assert disposition.startswith("attachment; filename="), declared
    assert served["application/pdf"][1].endswith('.pdf"')
    assert served["image/png"] == ("image/png", "inline")
    assert served["audio/ogg"] == ("audio/ogg", "inline")
