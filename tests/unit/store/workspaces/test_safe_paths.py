"""The one resolver: every hostile path refused, plain ones kept, links checked after resolving."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from echo_orchestrator.errors import NotFound, PathOutside, UnsafePath
from echo_orchestrator.store.workspaces.safe_paths import open_regular, path_parts, resolve_inside
from tests.helpers.traversal import CORPUS, DECOY_NAME, LINKED, plant


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    storage = tmp_path / "storage"
    folder = storage / "workspaces" / "default"
    (folder / "Working_Directory").mkdir(parents=True)
    (folder / "notes.txt").write_text("fine")
    plant(storage, folder)
    return folder


def test_the_corpus_is_large() -> None:
    assert len(CORPUS) + len(LINKED) >= 50 and len(set(CORPUS)) == len(CORPUS)


@pytest.mark.parametrize("text", CORPUS)
def test_every_hostile_path_is_refused_before_the_filesystem(text: str) -> None:
    with pytest.raises(UnsafePath) as caught:
        path_parts(text, field="file_path")
    assert caught.value.details["errors"][0]["field"] == "file_path"


@pytest.mark.parametrize("text", LINKED)
def test_links_leading_outside_are_refused_after_resolving(workspace: Path, text: str) -> None:
    with pytest.raises((PathOutside, UnsafePath)):
        resolve_inside(workspace, text, field="file_path")


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", ()),
        (".", ()),
        ("notes.txt", ("notes.txt",)),
        ("Working_Directory/run/report.md", ("Working_Directory", "run", "report.md")),
        ("a//b/./c", ("a", "b", "c")),
        ("résumé.txt", ("résumé.txt",)),
        ("..notes", ("..notes",)),
        ("v1.2..3.txt", ("v1.2..3.txt",)),
    ],
)
def test_plain_paths_are_kept(text: str, parts: tuple[str, ...]) -> None:
    assert path_parts(text, field="path") == parts


def test_a_link_that_stays_inside_is_followed(workspace: Path) -> None:
    os.symlink("notes.txt", workspace / "alias.txt")
    assert resolve_inside(workspace, "alias.txt", field="path") == (workspace / "notes.txt").resolve()


def test_open_regular_refuses_links_folders_and_missing_files(workspace: Path) -> None:
    os.symlink(workspace / "notes.txt", workspace / "late-link")
    with pytest.raises(UnsafePath):  # a link swapped in after resolving is not followed
        open_regular(workspace / "late-link", field="file_path")
    with pytest.raises(UnsafePath):
        open_regular(workspace / "Working_Directory", field="file_path")
    with pytest.raises(NotFound):
        open_regular(workspace / "missing.txt", field="file_path")
    os.mkfifo(workspace / "pipe")
    with pytest.raises(UnsafePath):  # opened without blocking, then refused
        open_regular(workspace / "pipe", field="file_path")
    fd = open_regular(workspace / "notes.txt", field="file_path")
    try:
        assert os.read(fd, 10) == b"fine"
    finally:
        os.close(fd)
    assert (workspace.parents[1] / DECOY_NAME).exists()
