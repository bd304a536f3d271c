"""The file store's index, fed from the folder and kept true while files change underneath.

`open` loads every definition; `follow_changes` watches the folder (watchfiles) and, for
every batch of events, re-reads just the files whose (mtime, size, inode) changed; a single
entity read checks its file with one `stat` first (`_fresh`). All index mutation happens on
the event loop, under one lock, so a re-read can never overwrite the index with bytes older
than a write.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio
import anyio.to_thread
from watchfiles import Change, awatch

from echo_orchestrator.store import atomic
from echo_orchestrator.store.definitions.index import DefinitionIndex
from echo_orchestrator.store.definitions.layout import Layout
from echo_orchestrator.store.definitions.loader import Loaded, candidate_files, load, signature_of

log = logging.getLogger("echo_orchestrator.store.files")

# How often a name the index does not know may make the store look at the disk again.
CATCH_UP_INTERVAL = 0.2


class FollowedFolder:
    def __init__(self, layout: Layout, *, debounce_ms: int = 50) -> None:
        self.layout = layout
        self._index = DefinitionIndex()
        self._debounce_ms = debounce_ms
        self._lock: anyio.Lock | None = None
        self._stop: anyio.Event | None = None
        self._following: anyio.Event | None = None
        self._following_now = False
        self._caught_up_at = -CATCH_UP_INTERVAL

    def _apply(self, loaded: Loaded) -> None:
        if loaded.problem is not None and self._index.problems.get(loaded.path) != loaded.problem:
            log.warning("skipping %s", loaded.problem)
        self._index.apply(loaded)

    async def open(self) -> None:
        self._lock = anyio.Lock()
        self._stop = anyio.Event()
        self._following = anyio.Event()

        def prepare() -> list[Path]:
            self.layout.ensure()
            removed: list[Path] = []
            for folder in self.layout.definition_dirs():
                removed.extend(atomic.sweep_temp_files(folder))
            return removed

        for path in await anyio.to_thread.run_sync(prepare):
            log.warning("removed %s, left by a writer that stopped mid-write", path)
        # The bulk load creates many acyclic objects; collections triggered meanwhile would
        # rescan the growing heap over and over (≈60% of the load time at 10,000 files).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            await self._rescan()
        finally:
            if was_enabled:
                gc.enable()

    async def close(self) -> None:
        if self._stop is not None:
            # Set before the caller cancels, or the watcher thread lingers for its timeout.
            self._stop.set()

    @property
    def revision(self) -> int:
        return self._index.revision

    @property
    def is_following(self) -> bool:
        return self._following_now

    async def wait_following(self) -> None:
        """Return once external changes are being followed (tests, benchmarks)."""
        assert self._following is not None, "open() first"
        await self._following.wait()

    async def follow_changes(self) -> None:
        assert self._stop is not None and self._following is not None, "open() first"
        root = self.layout.root
        watched_dirs = {*self.layout.definition_dirs(), root / "workflows"}

        def relevant(change: Change, raw: str) -> bool:
            path = Path(raw)
            if atomic.is_temp_name(path.name):
                return False
            return path.suffix == ".json" or path in watched_dirs

        try:
            await self._follow(root, watched_dirs, relevant)
        finally:
            self._following_now = False

    async def _follow(self, root: Path, watched_dirs: set[Path], relevant: Callable[[Change, str], bool]) -> None:
        assert self._stop is not None and self._following is not None
        async for changes in awatch(
            root,
            watch_filter=relevant,
            stop_event=self._stop,
            debounce=self._debounce_ms,
            step=10,
            rust_timeout=250,
            yield_on_timeout=True,
            recursive=True,
            ignore_permission_denied=True,
        ):
            if not self._following.is_set():
                # Catch whatever changed between open() and the watcher's start.
                await self._rescan()
                self._following_now = True
                self._following.set()
                continue
            paths = {Path(raw) for _, raw in changes}
            if paths & watched_dirs:
                await self._rescan()  # a whole folder appeared or went: compare everything
            elif paths:
                await self._reload(paths)

    # -- index feeding -----------------------------------------------------------------

    async def _rescan(self) -> None:
        assert self._lock is not None
        async with self._lock:
            known = dict(self._index.signatures)

            def scan() -> list[Loaded]:
                present = candidate_files(self.layout)
                changed = [p for p in present if known.get(p) != signature_of(p)]
                gone = set(known) - set(present)
                # Oldest first: of two files claiming one slug, the earlier one keeps it.
                loaded = sorted((load(self.layout, p) for p in changed), key=lambda item: item.signature or (0, 0, 0))
                return [Loaded(p, None, self.layout.locate(p)) for p in gone] + loaded

            for loaded in await anyio.to_thread.run_sync(scan):
                self._apply(loaded)

    async def _reload(self, paths: Iterable[Path]) -> None:
        assert self._lock is not None
        candidates = [p for p in paths if self.layout.is_definition_candidate(p) or p == self.layout.mcp_settings]
        async with self._lock:
            stale = [p for p in candidates if not self._index.is_current(p, signature_of(p))]
            if not stale:
                return
            for loaded in await anyio.to_thread.run_sync(lambda: [load(self.layout, p) for p in stale]):
                self._apply(loaded)

    async def _catch_up(self) -> None:
        """A name the index does not know may have been written a moment ago by another
        process, before the watcher saw it: look at the folder once more (an incremental
        scan: a stat per file, re-reading only what changed). Misses share that scan, and
        scan at most every CATCH_UP_INTERVAL, so a flood of unknown names costs little."""
        assert self._lock is not None
        now = time.monotonic()
        if now - self._caught_up_at < CATCH_UP_INTERVAL:
            async with self._lock:  # a scan under way: its result, not a new one
                return
        self._caught_up_at = now
        await self._rescan()

    async def _fresh(self, *paths: Path) -> None:
        """Single-entity reads answer what the disk holds now: one `stat` per file, and a
        re-read only when another process (a worker, an editor) changed it since the index
        last looked. Lists and filters are served by the index, which the watcher follows."""
        signatures = self._index.signatures
        stale = [p for p in paths if signatures.get(p) != signature_of(p)]
        if stale:
            await self._reload(stale)
