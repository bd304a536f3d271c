"""Real faults for tests: a small disk that fills up (a tmpfs mounted for the test).

Mounting needs root (or CAP_SYS_ADMIN). Where the test cannot mount, it skips and says why;
with `ECHO_REQUIRE_FAULTS=1` (set by `.ci/run`) it fails instead, so CI never passes by
skipping them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def unavailable(reason: str) -> None:
    if os.environ.get("ECHO_REQUIRE_FAULTS"):
        pytest.fail(f"fault tests are required here (ECHO_REQUIRE_FAULTS is set) but {reason}")
    pytest.skip(f"cannot inject this fault here: {reason}")


@contextlib.contextmanager
def small_disk(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "32m") mounted at `mountpoint` for the duration."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], capture_output=True, text=True)
    if mounted.returncode != 0:
        unavailable(f"mounting a tmpfs failed ({(mounted.stderr or mounted.stdout).strip()[:200]}; it needs root)")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(path: Path, chunk: int = 256 * 1024) -> int:
    """Write `path` until its disk is full; the bytes written. Smaller writes at the end, so
    the disk is full to the last block."""
    written = 0
    with path.open("wb", buffering=0) as out:
        while chunk >= 512:
            try:
                written += out.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 4
    return written
