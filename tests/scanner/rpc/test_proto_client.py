"""A client built from ``proto/`` alone, with none of hashwatch's code, can scan."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import DEMO_LIST, DEMO_UNLISTED, ROOT
from tests.scanner.conftest import Running

CLIENT = textwrap.dedent(
    """
    import json, sys
    root, address, listed, unlisted = sys.argv[1:5]
    sys.path = [p for p in sys.path if p.rstrip("/") != root]
    import grpc
    from hashwatch.v1 import scanner_pb2 as pb, scanner_pb2_grpc as pb_grpc
    assert not pb.__file__.startswith(root), pb.__file__
    assert not any(m == "scanner" or m.startswith("scanner.") for m in sys.modules)
    stub = pb_grpc.ScannerStub(grpc.insecure_channel(address))
    out = []
    for path in (listed, unlisted):
        reply = stub.Scan(pb.ScanRequest(request_id=path, content=open(path, "rb").read()), timeout=30)
        out.append({"verdict": pb.Verdict.Name(reply.verdict),
                    "lists": sorted({m.list for m in reply.matches})})
    print(json.dumps(out))
    """
)


def test_a_client_compiled_from_proto_alone_gets_block_and_allow(running: Running, tmp_path: Path) -> None:
    generated = tmp_path / "client"
    generated.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'proto'}",
            f"--python_out={generated}",
            f"--grpc_python_out={generated}",
            # scanner.proto imports access.proto (the scopes option): a client compiles both.
            "hashwatch/v1/access.proto",
            "hashwatch/v1/scanner.proto",
        ],
        check=True,
    )
    script = generated / "client.py"
    script.write_text(CLIENT)
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            str(ROOT),
            running.address,
            str(DEMO_LIST / "skimage_chelsea.png"),
            str(DEMO_UNLISTED / "skimage_camera.png"),
        ],
        cwd=generated,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"verdict": "VERDICT_BLOCK", "lists": ["demo"]},
        {"verdict": "VERDICT_ALLOW", "lists": []},
    ]
