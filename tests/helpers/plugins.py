"""Building plugin folders for tests: the shipped example, and broken variants."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "plugins" / "echo-example-plugin"


def copy_example(plugins_dir: Path, name: str = "echo-example-plugin") -> Path:
    target = plugins_dir / name
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    return target


def write_plugin(plugins_dir: Path, folder: str, module: str, source: str, entry_points: str) -> Path:
    """A one-module drop-in plugin with the given source and entry point declarations."""
    root = plugins_dir / folder
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(textwrap.dedent(source))
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "{folder}"
            version = "0.1.0"
            """
        )
        + textwrap.dedent(entry_points)
    )
    return root
