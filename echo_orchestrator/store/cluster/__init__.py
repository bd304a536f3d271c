"""What only processes sharing a PostgreSQL runtime need: the run queue (procrastinate),
signals over Redis, rate-limit counters every node shares, advisory locks for definitions.
Built by `echo_orchestrator.backends`; nothing in `definitions/` or `runtime/` imports it."""
