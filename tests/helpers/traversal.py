"""A corpus of hostile paths, and the decoy they aim at.

Each corpus entry is the text a route or tool receives (after the framework's one
percent-decoding). The layout the tests build:

    <storage>/decoy-secret.txt                                   the decoy, outside every workspace
    <storage>/workspaces/other/Longterm_Directory/other-secret.txt   another workspace's file
    <storage>/workspaces/default/...                             the workspace under attack
"""

from __future__ import annotations

import os
from pathlib import Path

DECOY_NAME = "decoy-secret.txt"
DECOY_TEXT = "DECOY-7f3a9c-never-served"
OTHER_TEXT = "OTHER-WORKSPACE-5e1d"

_D = DECOY_NAME

# Relative escapes from the workspace root (storage/workspaces/default) and from a run folder.
_DOTS = [
    f"../../{_D}",
    f"../../../{_D}",
    f"../../../../../../../../{_D}",
    f"Working_Directory/../../../{_D}",
    f"Working_Directory/wfexec_x/../../../../{_D}",
    f"./../../{_D}",
    f"..//..//{_D}",
    "../other/Longterm_Directory/other-secret.txt",
    "Longterm_Directory/../../other/Longterm_Directory/other-secret.txt",
    "..",
    "../",
    "../..",
    "...",
    f".../.../{_D}",
    f"....//....//{_D}",
    "Working_Directory/../..",
    f" ../../{_D}",
    f"../../{_D} ",
]
_ABSOLUTE = [
    "/etc/passwd",
    "//etc/passwd",
    f"/{_D}",
    "~/.bashrc",
    "~root/.ssh/id_rsa",
    "C:/Windows/win.ini",
    "c:relative.txt",
]
_BACKSLASH = [
    f"..\\..\\{_D}",
    f"Working_Directory\\..\\..\\..\\{_D}",
    "C:\\Windows\\win.ini",
    "\\\\server\\share\\file",
    f"..\\/..\\/{_D}",
]
# Still encoded after one decoding: sent encoded twice, or sent raw in a JSON body.
_ENCODED = [
    f"%2e%2e/%2e%2e/{_D}",
    f"%2e%2e%2f%2e%2e%2f{_D}",
    f"..%2f..%2f{_D}",
    f"%2E%2E%2F%2E%2E%2F{_D}",
    f"..%5c..%5c{_D}",
    f".%2e/.%2e/{_D}",
    f"%252e%252e%252f%252e%252e%252f{_D}",
    f"..%252f..%252f{_D}",
    f"..%255c..%255c{_D}",
    f"%c0%ae%c0%ae/%c0%ae%c0%ae/{_D}",
    f"..%c0%af..%c0%af{_D}",
    f"..%e0%80%af..%e0%80%af{_D}",
    f"%00../../{_D}",
    "%2e%2e",
]
_CONTROL = [
    f"{_D}\x00.png",
    f"../../{_D}\x00",
    "\x00",
    f"..\x00/..\x00/{_D}",
    f"\t../../{_D}",
    f"\n../../{_D}",
    "report\r\n.txt",
    f"\u202e../../{_D}",  # right-to-left override
    f"..\u200b/..\u200b/{_D}",  # zero-width space
    f"\ufeff../../{_D}",  # byte order mark
]
_LOOKALIKE = [
    f"\uff0e\uff0e/\uff0e\uff0e/{_D}",  # fullwidth full stops
    f"..\uff0f..\uff0f{_D}",  # fullwidth solidus
    f"..\u2215..\u2215{_D}",  # division slash
    f"..\u2044..\u2044{_D}",  # fraction slash
    f"\u2025/\u2025/{_D}",  # two dot leader
    f"..\uff3c..\uff3c{_D}",  # fullwidth reverse solidus
    f"\u2024\u2024/\u2024\u2024/{_D}",  # one dot leaders
    f"..\u29f8..\u29f8{_D}",  # big solidus
]
_LONG = [
    "a/" + "b" * 300,
    "a/" * 600,
    "x" * 256,
]

CORPUS: list[str] = [*_DOTS, *_ABSOLUTE, *_BACKSLASH, *_ENCODED, *_CONTROL, *_LOOKALIKE, *_LONG]

# Links a test makes inside the workspace (name -> target), each leading outside it.
LINKS_OUT = {
    "link-to-storage": "../..",  # a folder link: storage/
    f"link-to-decoy-{_D}": f"../../{_D}",  # a file link straight to the decoy
    "link-to-other": "../other",  # another workspace
    "link-loop": "link-loop",  # a link to itself
}
LINKED = [
    "link-to-storage",
    f"link-to-storage/{_D}",
    f"link-to-decoy-{_D}",
    "link-to-other/Longterm_Directory/other-secret.txt",
    "link-to-other/Longterm_Directory",
    "link-loop",
    "link-loop/x",
]

HOSTILE = [*CORPUS, *LINKED]

HOSTILE_NAMES = ["..", ".", "default/..", "../default", "%2e%2e", "default%2f..", " default", "default\x00", "\uff44efault", "a" * 65, ""]


def plant(storage: Path, workspace: Path) -> None:
    """The decoy, another workspace's file, and the outward links in `workspace`."""
    (storage / DECOY_NAME).write_text(DECOY_TEXT)
    other = storage / "workspaces" / "other" / "Longterm_Directory"
    other.mkdir(parents=True, exist_ok=True)
    (other / "other-secret.txt").write_text(OTHER_TEXT)
    for name, target in LINKS_OUT.items():
        link = workspace / name
        if not link.is_symlink():
            os.symlink(target, link)


def outside_snapshot(storage: Path, workspace: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of everything under `storage` outside `workspace`: must not change."""
    seen: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(storage, followlinks=False):
        here = Path(folder)
        if here == workspace or workspace in here.parents or "runtime" in here.relative_to(storage).parts:
            dirs[:] = []
            continue
        for name in files + dirs:
            info = (here / name).lstat()
            seen[str((here / name).relative_to(storage))] = (info.st_size, info.st_mtime_ns)
    return seen
