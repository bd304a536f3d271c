"""Bodies of the service endpoints: /health, /service/health, /service/metrics."""

from __future__ import annotations

import msgspec

from echo_orchestrator.api.request_context import RequestCounts
from echo_orchestrator.registry import PluginProblem
from echo_orchestrator.store import Problem, StoreCounts
from echo_orchestrator.system import ResourceUsage


class Health(msgspec.Struct, kw_only=True):
    status: str
    timestamp: str


class Readiness(msgspec.Struct, kw_only=True):
    status: str
    timestamp: str
    checks: dict[str, bool]


class StorageHealth(msgspec.Struct, kw_only=True):
    status: str  # "ok" | "degraded" | "unwritable"
    root: str
    writable: bool
    following_changes: bool
    counts: StoreCounts
    problems: list[Problem]


class PluginHealth(msgspec.Struct, kw_only=True):
    status: str  # "ok" | "degraded"
    plugins_dir: str | None
    following_changes: bool
    graphs: list[str]
    tools: list[str]
    llm_providers: list[str]
    mcp_servers: list[str]
    problems: list[PluginProblem]


class McpHealth(msgspec.Struct, kw_only=True):
    servers: int
    available: int
    unavailable: list[str]


class ServiceHealth(msgspec.Struct, kw_only=True):
    status: str  # "healthy" | "degraded"
    version: str
    storage: StorageHealth
    plugins: PluginHealth
    mcp: McpHealth
    services: dict[str, str]
    uptime: float
    timestamp: str


class ExecutionCounts(msgspec.Struct, kw_only=True):
    active: int
    completed_today: int
    failed_today: int
    avg_duration_seconds: float | None


class LiveCounts(msgspec.Struct, kw_only=True):
    subscriptions: int  # live followers of executions (WebSocket, Socket.IO, SSE), one per joined execution
    dropped: int  # followers dropped for being too slow since start-up


class ServiceMetrics(msgspec.Struct, kw_only=True):
    requests: RequestCounts
    executions: ExecutionCounts
    live: LiveCounts
    resources: ResourceUsage
    uptime: float
    timestamp: str
