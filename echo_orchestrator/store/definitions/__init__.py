"""The definition files under storage/: one JSON file per agent, draft, temp copy and final
version, the MCP settings; read into an in-memory index, kept true while files change."""
