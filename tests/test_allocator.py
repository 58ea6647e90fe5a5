"""tune_cpu_allocator: glibc keeps freed tensor memory in the process; opt-outs are honoured."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# Allocates an 8 MiB tensor and reports how glibc served it: from mmap (hblkhd) or the heap.
PROBE = """
import ctypes, json, sys, torch
from crossview.device import tune_cpu_allocator
applied = tune_cpu_allocator() if sys.argv[1] == "api" else None
if sys.argv[1] == "cli":
    from typer.testing import CliRunner
    from crossview.cli import app
    assert CliRunner().invoke(app, ["version"]).exit_code == 0
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
before = libc.mallinfo2().hblkhd
block = torch.empty(8 << 20, dtype=torch.uint8)
print(json.dumps({"applied": applied, "mmapped": libc.mallinfo2().hblkhd - before}))
"""

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc allocator"
)


def _probe(mode: str, **env: str) -> dict:
    import json

    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k != "CROSSVIEW_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         env={**clean, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc_only
def test_tuned_allocator_serves_large_tensors_from_the_heap():
    assert _probe("none")["mmapped"] >= 8 << 20  # glibc's default: mmap, unmapped on free
    tuned = _probe("api")
    assert tuned["applied"] is True and tuned["mmapped"] == 0
    assert _probe("cli")["mmapped"] == 0  # every command tunes at start


@glibc_only
@pytest.mark.parametrize("env", [{"CROSSVIEW_MALLOC_TUNING": "0"},
                                 {"MALLOC_TOP_PAD_": "131072"}])
def test_opt_outs_leave_the_allocator_alone(env):
    result = _probe("api", **env)
    assert result["applied"] is False and result["mmapped"] >= 8 << 20
