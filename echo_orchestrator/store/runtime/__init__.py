"""The run history (executions, steps, nodes, events, LLM calls) and LangGraph's checkpoints:
the `RuntimeStore` protocol (`base`), the SQL both backends share, SQLite and PostgreSQL."""
