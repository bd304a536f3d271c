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


def _split_list(value: Any) -> Any:
    """A list setting from the environment: comma-separated, blanks dropped."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8000
    storage_dir: Path = Path("storage")
    # The run history and checkpoints: unset = SQLite under <storage_dir>/runtime/;
    # `sqlite:///<path>` or `postgresql://user@host:port/database` (docs/deployment.md).
    runtime_url: str | None = None
    # With a PostgreSQL runtime: Redis (`redis://...`) for the signals between processes
    # (events, cancels, definition changes) and the per-caller limits, instead of PostgreSQL.
    redis_url: str | None = None
    # With a shared (PostgreSQL) runtime: how often each process says it is alive, and how
    # long after its last word another process takes it for dead (its runs then settled).
    heartbeat_seconds: float = 5.0
    dead_after_seconds: float = 20.0
    # With a shared runtime runs go through a queue: whether this process takes runs from
    # it (`serve --no-worker` says no), and how long a stopping worker lets its runs go on
    # before it hands the rest back to the queue (continued elsewhere from checkpoints).
    run_executions: bool = True
    stop_grace_seconds: float = 10.0
    plugins_dir: Path = Path("plugins")
    workers: int = 1
    reload: bool = False
    log_level: str = "info"
    # "text" for people, "json" for log collectors (one JSON object a line).
    log_format: str = "text"
    # Follow external edits of storage/ (git pull, editors) with watchfiles.
    watch: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    # JSON nested deeper than this is refused (400) before it is decoded.
    max_json_depth: int = 64
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

    # -- who may call (docs/security.md) -----------------------------------------------
    # API keys, comma-separated; an entry may end in ` read-only` or hold `sha256:<hex>`.
    api_keys: str = ""
    # One key per line, same syntax; may hold only `sha256:` hashes, so it holds no secret.
    api_keys_file: Path | None = None
    # JWT bearer tokens: an HS256 secret, or a JWKS (file or URL) for RS256/ES256.
    jwt_secret: str = ""
    jwt_jwks: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    # When set, a token whose `scope`/`scp` lacks this scope may only read.
    jwt_write_scope: str = ""
    # Serve without any key on a non-loopback address (explicit opt-in).
    allow_unauthenticated: bool = False

    # -- browsers and the network ------------------------------------------------------
    # Origins (scheme://host[:port]) that browsers may call from; also Litestar's CORS.
    allowed_origins: tuple[str, ...] = ()
    # Accepted `Host` names; empty: the loopback names when bound to loopback, any otherwise.
    allowed_hosts: tuple[str, ...] = ()
    # Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    trusted_proxies: tuple[str, ...] = ()
    # Base URL prefixes an LLM provider may be pointed at besides its default endpoint.
    llm_allowed_base_urls: tuple[str, ...] = ()

    # -- workspaces (docs/workspaces.md) ---------------------------------------------------
    # Where workspaces live; by default `<storage_dir>/workspaces`.
    workspaces_dir: Path | None = None
    # Create a workspace an execution names when it does not exist (otherwise 404).
    workspace_autocreate: bool = False
    # What all of one workspace's files may add up to; a write past it fails.
    max_workspace_size_mb: float = 10240
    # Remove per-run folders of finished runs older than `cleanup_after_days`, checked
    # every `cleanup_interval_seconds`.
    auto_cleanup_enabled: bool = True
    cleanup_after_days: float = 30
    cleanup_interval_seconds: float = 3600
    # A file larger than this is served by the content route only in ranges (413 otherwise).
    max_file_read_mb: float = 100

    # -- run history (docs/deployment.md, Operations) ------------------------------------
    # Ended executions are deleted, with everything of theirs (events, steps, nodes, LLM
    # calls, checkpoints, their run folder), once older than `retention_days` or beyond the
    # newest `retention_max_executions`; 0 switches either off. A workflow's `retention`
    # overrides both for its runs. Paused and running executions are never deleted.
    retention_days: float = 30
    retention_max_executions: int = 100_000
    retention_interval_seconds: float = 3600
    # Executions deleted per transaction: short enough that runs' writes are not held up.
    retention_batch_size: int = 200

    # -- triggers (docs/triggers.md) -----------------------------------------------------
    # Fire the schedules of storage/schedules/ (every node may: each fire runs once).
    scheduler: bool = True
    # Signs completion webhooks (Standard Webhooks: `whsec_<base64>`) that name no secret of their own.
    webhook_secret: str = ""
    # URL prefixes completion webhooks may go to whatever they resolve to (a private
    # address, loopback); and whether any other URL resolving only to public addresses may.
    webhook_allowed_urls: tuple[str, ...] = ()
    webhook_public_urls: bool = True
    # One attempt's time limit; a failed delivery is tried again after `webhook_backoff_seconds`,
    # doubling (with jitter) up to `webhook_backoff_max_seconds`, for `webhook_retry_seconds`.
    webhook_timeout_seconds: float = 10.0
    webhook_backoff_seconds: float = 5.0
    webhook_backoff_max_seconds: float = 600.0
    webhook_retry_seconds: float = 86400.0

    # -- the MCP server face (docs/mcp.md, Serving workflows as MCP tools) ----------------
    # `/mcp` (Streamable HTTP) and `echo-orchestrator mcp` (stdio) offer runnable workflows
    # and plugin graphs as tools. Every workflow is offered unless its definition says
    # `"mcp": {"expose": false}`; with `mcp_expose_workflows` false only those saying
    # `"expose": true` are.
    mcp_server: bool = True
    mcp_expose_workflows: bool = True
    mcp_expose_graphs: bool = True
    # A tool call waits this long for its run, then answers with the execution id to follow.
    mcp_call_timeout_seconds: float = 120
    # How deep runs may call workflows through MCP (a run calling itself ends here).
    mcp_max_depth: int = 3
    # Sessions for clients of the handshake protocol versions (2025-*): unset, on with the
    # SQLite runtime (one process), off with PostgreSQL (several nodes behind a balancer
    # need no affinity). 2026-07-28 clients need no session either way.
    mcp_sessions: bool | None = None

    # `GET /metrics` (Prometheus) needs no credentials: for a scraper on a trusted network.
    metrics_public: bool = False
    # A `worker` also listens on this port (on `host`) for `GET /metrics` and `GET /health`,
    # behind the same keys: the runs it runs are counted there. Unset: no HTTP at all.
    metrics_port: int | None = None

    # Models that can stream do, and their pieces go live as `llm_token` events to the
    # subscribers that ask for them (docs/streaming.md). Off: every call is asked whole.
    llm_streaming: bool = True
    # Trace spans of LLM calls carry their prompts and replies (scrubbed of secrets, cut at
    # 16,000 characters): for Langfuse or Phoenix, where the text is the point. Off: no text.
    trace_content: bool = False

    # -- limits per caller (0 switches one off) ------------------------------------------
    # Requests per caller per hour; unset: 1000, except on a private local server (see
    # `security.network.requests_per_hour`), where one person's scripts would only lock them out.
    rate_limit_per_hour: int | None = None
    max_executions_per_caller: int = 50
    mcp_tool_calls_per_hour: int = 100

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
        for name in _LIST_FIELDS:
            if name in raw:
                raw[name] = _split_list(raw[name])
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
            if isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, bool):
                text = str(value).lower()
            else:
                text = str(value)
            out[f"{ENV_PREFIX}{name.upper()}"] = text
        return out

    @property
    def workspace_root(self) -> Path:
        """The workspaces folder as configured (relative paths stay relative)."""
        return self.workspaces_dir if self.workspaces_dir is not None else self.storage_dir / "workspaces"

    @property
    def auth_configured(self) -> bool:
        """Is any way of proving who calls configured? Then every route but /health needs one."""
        return bool(self.api_keys.strip() or self.api_keys_file or self.jwt_secret or self.jwt_jwks)


_LIST_FIELDS = ("allowed_origins", "allowed_hosts", "trusted_proxies", "llm_allowed_base_urls", "webhook_allowed_urls")
