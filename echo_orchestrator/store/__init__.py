"""Storage, by what it holds (docs/architecture.md has the rules of each package):

    definitions/  the JSON definition files: agents, workflows (draft, temp, final versions),
                  MCP settings; the in-memory index, watching, locks, the file format
    runtime/      the run history: the RuntimeStore protocol, the SQL both backends share,
                  SQLite and PostgreSQL, their schemas and migrations, LangGraph's savers
    cluster/      what only processes sharing a PostgreSQL runtime need: the run queue,
                  signals over Redis, shared rate-limit counters, advisory locks
    workspaces/   the files executions produce, and the one resolver of caller paths
    atomic, counters   crash-safe file writes; rate-limit windows (the protocol, in memory)

Concrete backends are chosen in one place above all of them: `echo_orchestrator.backends`.
"""
