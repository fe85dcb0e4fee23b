"""Parsing, chunking and embedding (USE and e5) work with no network at all (and never try
to use it).

The parse runs in a child process inside a fresh network namespace (`unshare -n`: not even
a route out), with HOME and the caches pointed at an empty directory (no data downloaded
earlier can help), and with a socket guard that records and refuses every connection
attempt, so even a download failure that a library swallows quietly shows up here.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

CHILD = r"""
import json, socket, sys
attempts = []
_connect = socket.socket.connect
def guarded(self, address):
    if self.family != socket.AF_UNIX:
        attempts.append(repr(address))
        raise OSError("network disabled by the offline test")
    return _connect(self, address)
socket.socket.connect = guarded
socket.create_connection = lambda address, *a, **k: guarded(
    socket.socket(socket.AF_INET), address)

from pathlib import Path
from knowledge.parsing import ChunkingOptions
from knowledge.worker import embed_e5, index_file
from knowledge import e5

report = {}
for path in sorted(Path(sys.argv[1]).iterdir()):
    result = index_file(path.read_bytes(), path.name, path.suffix[1:], ChunkingOptions(), True)
    report[path.name] = {
        "text": " ".join(c.text for c in result.chunks),
        "pages": [c.page_number for c in result.chunks],
        "vectors": len(result.embeddings or []),
    }
# The second embedder (e5), passages and a query.
e5_vectors, _ = embed_e5([r["text"] for r in report.values()])
query = e5.encode_query("refunds")
report["e5"] = {"passages": len(e5_vectors), "query": float(query @ query)}
print(json.dumps({"attempts": attempts, "report": report}))
"""


def network_isolation() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []  # no namespace rights here: the socket guard alone still proves it


def test_every_format_parses_and_embeds_without_network(
    tmp_path: Path, make: SimpleNamespace
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.pdf").write_bytes(
        make.pdf([("Refunds", "Refunds take five days."), ("Hours", "Open at nine.")])
    )
    (docs / "b.docx").write_bytes(make.docx("Delivery", ["Parcels arrive in three days."]))
    (docs / "c.html").write_bytes(b"<html><body><h1>Care</h1><p>Wash cold only.</p></body></html>")
    (docs / "d.md").write_bytes(b"# Sizes\n\nOur shoes run small; order one size up.\n")
    (docs / "e.txt").write_bytes(b"Gift cards never expire and work in every store.\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "HF_HOME": str(home / ".hf"),
        "NLTK_DATA": str(home / "nltk"),
        "TMPDIR": str(tmp_path),
    }
    cmd = [*network_isolation(), sys.executable, "-c", CHILD, str(docs)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == [], "something tried to reach the network"
    report = result["report"]
    assert report.pop("e5") == {"passages": 5, "query": pytest.approx(1.0, abs=1e-3)}
    assert "Refunds take five days." in report["a.pdf"]["text"]
    assert report["a.pdf"]["pages"] == [1, 2]
    assert "Parcels arrive in three days." in report["b.docx"]["text"]
    assert "Wash cold only." in report["c.html"]["text"]
    assert "order one size up" in report["d.md"]["text"]
    assert "Gift cards never expire" in report["e.txt"]["text"]
    assert all(item["vectors"] == len(item["pages"]) for item in report.values())
