"""Service settings: one typed struct, read from the environment; CLI flags win."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from echo_orchestrator.errors import ConfigurationError

ENV_PREFIX = "ECHO_"


def _decode_path(type_: type, value: Any) -> Any:
    if type_ in (Path, Path | None) and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8000
    storage_dir: Path = Path("storage")
    plugins_dir: Path = Path("plugins")
    workers: int = 1
    reload: bool = False
    log_level: str = "info"
    # Follow external edits of storage/ (git pull, editors) with watchfiles.
    watch: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    # JSON price table merged over the built-in one (see engine/llm/prices.py).
    prices_file: Path | None = None
    # Follow the plugins folder and reload drop-in plugins when it changes.
    watch_plugins: bool = True
    # Executions running at once; more wait as `initializing` (the seed's limit is 50).
    max_concurrent_executions: int = 50
    # Live events: how far (in events) a subscriber may fall behind before it is dropped,
    # and how long an SSE stream may stay silent before a keep-alive comment.
    stream_buffer: int = 1000
    sse_keepalive_seconds: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `ECHO_<FIELD>` variables, then non-None `overrides` (the CLI flags)."""
        env = os.environ if env is None else env
        raw: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            value = env.get(f"{ENV_PREFIX}{name.upper()}")
            if value is not None and value != "":
                raw[name] = value
        raw.update({k: str(v) if isinstance(v, Path) else v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_decode_path)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"Invalid setting: {exc}") from exc

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a worker process."""
        out: dict[str, str] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is None:
                continue
            out[f"{ENV_PREFIX}{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return out
