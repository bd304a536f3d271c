"""The MCP server face: workflows and plugin graphs as MCP tools, definitions and
executions as resources, the designer as a prompt (docs/mcp.md, Serving)."""

from echo_orchestrator.mcp_server.server import McpFace

__all__ = ["McpFace"]
