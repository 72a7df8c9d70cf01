"""``hashwatch serve`` with worker processes, configured by environment alone, against the
hostile corpus: every file a clean answer within a second, the whole process tree under
1.5 GB, and still serving after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.outcomes import Outcome
from scanner.rpc.convert import OUTCOME_TO_PB
from tests.conftest import DATA, DEMO_LIST

HOSTILE = DATA / "hostile"
GiB = 1024**3


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    env = {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(tmp_path / "var"),
        "HASHWATCH_PORT": "0",
        "HASHWATCH_METRICS_PORT": "0",
        "HASHWATCH_HASH_WORKERS": "2",
        "HASHWATCH_QUEUE_SIZE": "8",
        "HASHWATCH_HASH_TIMEOUT_SECONDS": "1",
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0",
    }
    env.pop("HASHWATCH_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        command = [sys.executable, "-m", "scanner", "serve", "--no-worker"]
        process = subprocess.Popen(command, env=env, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        for line in log_path.read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "serving":
                assert event["hash_workers"] == 2
                return process, event["address"], log_path
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start:\n{log_path.read_text()}")


def _tree(root: int) -> list[int]:
    """``root`` and every process below it (the fork server and the hashing processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _peak_rss(pids: list[int]) -> int:
    """The sum of each process's peak resident size (VmHWM): at least the tree's true peak."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total


def test_every_hostile_file_gets_a_clean_answer_in_a_second_in_bounded_memory(tmp_path: Path) -> None:
    process, address, log_path = _serve(tmp_path)
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
    stub = pb_grpc.ScannerStub(channel)
    try:
        tree = _tree(process.pid)
        assert len(tree) >= 4, "expected the server, a fork server and two hashing processes"
        manifest = [line.split("\t") for line in (HOSTILE / "MANIFEST.tsv").read_text().splitlines()[1:]]
        for name, expected in manifest:
            started = time.monotonic()
            request = pb.ScanRequest(request_id=name, content=(HOSTILE / name).read_bytes())
            reply = stub.Scan(request, timeout=10)
            elapsed = time.monotonic() - started
            assert reply.outcome == OUTCOME_TO_PB[Outcome(expected)], name
            assert elapsed < 1.0, f"{name} took {elapsed:.2f} s"
        assert process.poll() is None
        assert sorted(_tree(process.pid)) == sorted(tree), "a hashing process was replaced"
        assert _peak_rss(tree) < 1.5 * GiB
        reply = stub.Scan(pb.ScanRequest(content=(DEMO_LIST / "skimage_rocket.jpg").read_bytes()), timeout=10)
        assert reply.outcome == pb.OUTCOME_SCANNED
    finally:
        channel.close()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, log_path.read_text()[-3000:]
