"""The engine: LLM providers now; workflow compilation and executions with issue #5."""
