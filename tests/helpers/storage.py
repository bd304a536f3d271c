"""A copy of the shipped `storage/` for a test: as committed (`HEAD`), so nothing a user did in
the checkout (a run's `runtime/`, a workspace, a draft the quick-start server validated, an
edited agent) changes a test."""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_UNTRACKED = shutil.ignore_patterns("runtime", "workspaces", ".*.tmp")


@functools.cache
def committed_storage(repo: Path = REPO) -> bytes | None:
    """The committed `storage/` as a tar archive, or None outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "archive", "--format=tar", "HEAD", "--", "storage"], cwd=repo, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None


def copy_storage(dest: Path, repo: Path = REPO) -> Path:
    archive = committed_storage(repo)
    if archive is None:  # not a git checkout (an sdist, a copy): all but the git-ignored folders
        shutil.copytree(repo / "storage", dest, ignore=_UNTRACKED)
        return dest
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            target = dest / Path(member.name).relative_to("storage")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    for folder in ("agents", "workflows/draft", "workflows/temp", "workflows/final"):
        (dest / folder).mkdir(parents=True, exist_ok=True)
    return dest


def add_draft_only(storage: Path, slug: str = "only-draft") -> str:
    """A workflow that has a draft and nothing that runs (no temp copy, no final version),
    made from the shipped article-desk draft; answers its slug."""
    import json

    draft = json.loads((storage / "workflows" / "draft" / "wf_article_desk.json").read_text())
    workflow_id = "wf_" + slug.replace("-", "_")
    draft.update(workflow_id=workflow_id, slug=slug, name=slug.replace("-", " ").title())
    (storage / "workflows" / "draft" / f"{workflow_id}.json").write_text(json.dumps(draft, indent=2) + "\n")
    return slug
