"""The workspaces folder: names, listings that never follow links, the size limit, folders."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from echo_orchestrator.errors import Conflict, NotFound, PathOutside, UnsafePath, WorkspaceFull
from echo_orchestrator.store.workspaces.folders import LONGTERM, WORKING, Workspaces
from tests.helpers.traversal import DECOY_NAME, HOSTILE_NAMES, OTHER_TEXT, plant


@pytest.fixture
def spaces(tmp_path: Path) -> Workspaces:
    spaces = Workspaces(tmp_path / "storage" / "workspaces", shown_as="storage/workspaces", max_size_mb=1)
    spaces.ensure_default()
    plant(tmp_path / "storage", spaces.folder("default"))
    return spaces


def _write(spaces: Workspaces, relative: str, data: bytes, name: str = "default") -> None:
    target = spaces.resolve(name, relative, field="path")
    target.parent.mkdir(parents=True, exist_ok=True)
    spaces.write(name, target, data)


def test_default_exists_with_its_two_folders(spaces: Workspaces) -> None:
    assert spaces.names() == ["default", "other"]
    assert {sub for sub, _ in spaces.directories("default")} >= {WORKING, LONGTERM}
    assert spaces.shown("default", WORKING) == "storage/workspaces/default/Working_Directory"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_workspace_names_are_refused(spaces: Workspaces, name: str) -> None:
    with pytest.raises((UnsafePath, NotFound)):
        spaces.folder(name)
    with pytest.raises(UnsafePath):
        spaces.create(name)


def test_unknown_workspaces_are_404_unless_autocreate(spaces: Workspaces) -> None:
    with pytest.raises(NotFound, match="ECHO_WORKSPACE_AUTOCREATE"):
        spaces.open_for_run("team-a")
    spaces.autocreate = True
    assert spaces.open_for_run("team-a") == spaces.root / "team-a"
    assert (spaces.root / "team-a" / WORKING).is_dir() and (spaces.root / "team-a" / LONGTERM).is_dir()
    with pytest.raises(Conflict):
        spaces.create("team-a")


def test_listings_and_sizes_never_follow_links(spaces: Workspaces) -> None:
    _write(spaces, f"{WORKING}/run1/report.md", b"# hi")
    _write(spaces, f"{LONGTERM}/data.csv", b"a,b\n1,2\n")
    files = spaces.files("default")
    assert [(f.path, f.size_bytes, f.mime_type) for f in files] == [
        (f"{LONGTERM}/data.csv", 8, "text/csv"),
        (f"{WORKING}/run1/report.md", 4, "text/markdown"),
    ]
    assert spaces.usage("default").size_bytes == 12  # the links' targets are not counted
    assert all(DECOY_NAME not in f.path and "other" not in f.path for f in files)
    assert [f.name for f in spaces.files("default", WORKING, extension="MD")] == ["report.md"]
    with pytest.raises(PathOutside):
        spaces.files("default", "link-to-other")


def test_a_write_over_the_limit_fails_and_leaves_nothing(spaces: Workspaces) -> None:
    _write(spaces, "a.bin", b"x" * 600_000)
    with pytest.raises(WorkspaceFull, match="over its limit of 1 MB"):
        _write(spaces, "b.bin", b"x" * 600_000)
    assert not (spaces.folder("default") / "b.bin").exists()
    assert not [p for p in spaces.folder("default").iterdir() if p.name.endswith(".tmp")]
    _write(spaces, "a.bin", b"y" * 900_000)  # replacing a file counts its old size out
    assert (spaces.folder("default") / "a.bin").stat().st_size == 900_000


def test_concurrent_writers_cannot_pass_the_limit_together(spaces: Workspaces) -> None:
    failures: list[Exception] = []

    def write(i: int) -> None:
        try:
            _write(spaces, f"part{i}.bin", b"z" * 300_000)
        except WorkspaceFull as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 3 and spaces.usage("default").size_bytes == 900_000


def test_folders_are_made_and_removed_only_inside(spaces: Workspaces) -> None:
    assert spaces.make_directory("default", "Custom/Sub") == "Custom/Sub"
    with pytest.raises(Conflict):
        spaces.make_directory("default", "Custom/Sub")
    for standard in ("", WORKING, LONGTERM, f"{WORKING}/"):
        with pytest.raises(Conflict):
            spaces.remove_directory("default", standard, set())
    (spaces.folder("default") / WORKING / "wfexec_live").mkdir()
    with pytest.raises(Conflict, match="still going"):
        spaces.remove_directory("default", f"{WORKING}/wfexec_live", {"wfexec_live"})
    with pytest.raises((PathOutside, NotFound)):
        spaces.remove_directory("default", "link-to-other", set())
    assert (spaces.root / "other" / LONGTERM / "other-secret.txt").read_text() == OTHER_TEXT
    assert spaces.remove_directory("default", "Custom", set()) == "Custom"
    assert not (spaces.folder("default") / "Custom").exists()


def test_a_folder_holding_an_outward_link_is_removed_without_following_it(spaces: Workspaces) -> None:
    folder = spaces.folder("default") / WORKING / "wfexec_old"
    folder.mkdir()
    os.symlink(spaces.root / "other", folder / "escape")
    spaces.remove_directory("default", f"{WORKING}/wfexec_old", set())
    assert (spaces.root / "other" / LONGTERM / "other-secret.txt").read_text() == OTHER_TEXT


def test_files_added_by_hand_count_from_the_next_walk(spaces: Workspaces, monkeypatch: pytest.MonkeyPatch) -> None:
    from echo_orchestrator.store.workspaces import folders as module

    _write(spaces, "a.txt", b"x")  # walks, and keeps the figure
    (spaces.folder("default") / "by-hand.bin").write_bytes(b"h" * 1_000_000)
    _write(spaces, "b.txt", b"x")  # within the TTL: the figure carried, plus this write
    monkeypatch.setattr(module, "SIZE_TTL", 0.0)
    with pytest.raises(WorkspaceFull):  # walked again: the file added by hand counts
        _write(spaces, "c.txt", b"x" * 100_000)
