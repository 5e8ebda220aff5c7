"""Training keeps freed memory for the next step (glibc only; elsewhere nothing changes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scbasis.train._heap import _glibc

SCRIPT = Path(__file__).parent / "scripts" / "heap_page_faults.py"


@pytest.mark.skipif(_glibc() is None, reason="mallopt is glibc's")
def test_steps_reuse_freed_memory_inside_the_context_and_during_training():
    # in a fresh process: glibc's allocator state belongs to the whole process
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    faults = json.loads(result.stdout.strip().splitlines()[-1])
    # 10 steps of 4 x 10.7 MB in 4 KiB pages: about 104,000 faults when each step maps
    # fresh pages, as glibc's defaults do
    assert faults["outside"] > 50_000
    assert faults["inside"] < 500 and faults["inside_after_a_nested_one"] < 500
    assert faults["inside_switched_off"] > 50_000
    assert faults["during_training"] < 500
