"""What the process costs: CPU, memory, and the size of the storage folder."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import msgspec
import psutil


class ResourceUsage(msgspec.Struct, kw_only=True):
    cpu_usage: float  # percent of one core since the previous reading
    memory_usage_mb: float  # resident set size of this process
    disk_usage_gb: float  # bytes under the storage folder
    disk_free_gb: float  # free space on the storage folder's filesystem
    storage_files: int


def _folder_size(root: Path) -> tuple[int, int]:
    total = files = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
                files += 1
            except FileNotFoundError:
                continue
    return total, files


class ResourceMonitor:
    """Samples resources; the folder walk is cached briefly so a polled endpoint stays cheap."""

    def __init__(self, storage_root: Path, *, folder_ttl: float = 10.0) -> None:
        self._root = storage_root
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first reading primes the counter
        self._ttl = folder_ttl
        self._folder: tuple[float, int, int] | None = None

    def sample(self) -> ResourceUsage:
        now = time.monotonic()
        if self._folder is None or now - self._folder[0] > self._ttl:
            size, files = _folder_size(self._root)
            self._folder = (now, size, files)
        _, size, files = self._folder
        free = shutil.disk_usage(self._root).free if self._root.exists() else 0
        return ResourceUsage(
            cpu_usage=round(self._process.cpu_percent(None), 1),
            memory_usage_mb=round(self._process.memory_info().rss / 2**20, 1),
            disk_usage_gb=round(size / 2**30, 4),
            disk_free_gb=round(free / 2**30, 2),
            storage_files=files,
        )
