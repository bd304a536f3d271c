"""Literal secrets in a storage folder, which users keep under git (`validate` warns).

Three signs, as secret scanners use them: a known token prefix (`sk-`, `ghp_`, `AKIA`...),
a key-like setting name (`API_KEY`, `token`, `Authorization`) holding a literal value, and
a long high-entropy token anywhere. `${VAR}` references are what we want instead, and are
never reported; nor are values that name a variable (`"api_key_env": "OPENAI_API_KEY"`).
A finding says where and why, never the value.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from echo_orchestrator.models.references import REFERENCE

# Known token formats: (name, pattern). Lengths as their issuers document them, loosely.
PREFIXES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("an Anthropic API key", r"sk-ant-[A-Za-z0-9_-]{20,}"),
        ("an OpenAI-style API key", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"),
        ("a Stripe secret key", r"\b[rs]k_live_[A-Za-z0-9]{16,}"),
        ("a GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}"),
        ("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        ("a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("a Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
        ("an Echo Orchestrator API key", r"\beo_[A-Za-z0-9_-]{32,}"),
        ("a private key", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
        ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    )
)
# Words of a setting's name that say its value is a secret (camelCase, snake_case, kebab-case).
SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials", "auth", "authorization", "bearer"}
)
# Names whose values are ids or digests, not secrets (random-looking by design).
NOT_SECRET_NAMES = re.compile(r"(?:^|_)(?:id|ids|sha256|sha1|hash|digest|etag|checksum|version|slug)$", re.I)
VARIABLE_NAME = re.compile(r"[A-Z][A-Z0-9_]*")  # a value that names a variable to read
PLACEHOLDER = re.compile(r"^(?:<[^>]*>|\.\.\.|x+|\*+|changeme|change-me|your[-_ ].*|example.*|test|dummy|none|null)$", re.I)
TOKEN = re.compile(r"[A-Za-z0-9+/_=.-]{24,}")
SETTING_LINE = re.compile(r"""^\s*(?:export\s+)?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*[=:]\s*["']?([^"'\s]*)""")
MIN_LITERAL = 8  # shorter values under a secret-looking name are too likely ordinary words
TEXT_SUFFIXES = (".json", ".md", ".txt", ".yaml", ".yml", ".toml", ".env", ".ini", ".cfg")
UNVERSIONED = ("runtime", "workspaces")  # storage/'s runtime data, git-ignored


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    file: str  # relative to the scanned folder
    where: str  # the JSON path (a.b[0].c) or `line N`
    reason: str


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_random(token: str) -> bool:
    """A long token of mixed letters and digits with near-maximal entropy for its length
    (hex digests, at 4 bits a character at most, stay below)."""
    if len(token) < 24 or not (re.search(r"[a-z]", token) and re.search(r"[A-Z]", token) and re.search(r"[0-9]", token)):
        return False
    return entropy(token) >= min(4.3, math.log2(len(token)) - 0.35)


def name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {word.lower() for word in re.split(r"[^A-Za-z0-9]+", spaced) if word}


def value_problem(name: str, value: str) -> str | None:
    """Why the literal `value` of the setting `name` looks like a secret, or None."""
    literal = REFERENCE.sub("", value)
    for label, pattern in PREFIXES:
        if pattern.search(literal):
            return f"looks like {label}"
    if NOT_SECRET_NAMES.search(name):
        return None
    last_word = literal.strip().rsplit(" ", 1)[-1] if literal.strip() else ""
    if (
        name_words(name) & SECRET_WORDS
        and not PLACEHOLDER.match(literal.strip())
        and len(last_word) >= MIN_LITERAL
        and not VARIABLE_NAME.fullmatch(last_word)
        and not PLACEHOLDER.match(last_word)
    ):
        return f"a literal value under a secret-looking name ({name})"
    if any(looks_random(token) for token in TOKEN.findall(literal)):
        return "a high-entropy token (a key or password?)"
    return None


def _walk(value: Any, path: str, name: str) -> Iterator[tuple[str, str, str]]:
    """(path, the setting's name, string) of every string in a JSON document; a key is
    checked as a value of no name (a token used as a key is still in the file)."""
    if isinstance(value, str):
        yield path, name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, "", str(key)
            yield from _walk(item, child, str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", name)


def scan_text(text: str, suffix: str) -> Iterator[tuple[str, str]]:
    """(where, reason) of each literal secret in one file's text."""
    if suffix == ".json":
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if document is not None:
            for path, name, value in _walk(document, "", ""):
                reason = value_problem(name, value)
                if reason is not None:
                    yield path or "(document)", reason
            return
    for number, line in enumerate(text.splitlines(), start=1):
        # `NAME=value` / `name: value` lines (.env, YAML) name their value; others are text.
        setting = SETTING_LINE.match(line)
        if setting is not None and setting.group(2).startswith("$"):
            continue  # the shell's reference: a value read, not written
        name, value = (setting.group(1), setting.group(2)) if setting else ("", line)
        reason = value_problem(name, value)
        if reason is not None:
            yield f"line {number}", reason


def _unversioned(folder: Path, root: Path) -> bool:
    if folder.parent == root and folder.name in UNVERSIONED:
        return True
    ignore = folder / ".gitignore"  # a folder that ignores itself (runtime data)
    try:
        return ignore.is_file() and "*" in (line.strip() for line in ignore.read_text(errors="replace").splitlines())
    except OSError:
        return False


def scan_folder(root: Path) -> list[Finding]:
    """Every literal secret in the versioned files under `root`."""
    findings: list[Finding] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                if not entry.name.startswith(".") and not _unversioned(entry, root):
                    pending.append(entry)
            elif entry.is_file() and entry.suffix.lower() in TEXT_SUFFIXES and not entry.name.endswith(".tmp"):
                try:
                    text = entry.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                relative = entry.relative_to(root).as_posix()
                findings += [Finding(file=relative, where=w, reason=r) for w, r in scan_text(text, entry.suffix.lower())]
    return sorted(findings, key=lambda f: (f.file, f.where))
