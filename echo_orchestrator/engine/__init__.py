"""The engine: workflows compiled to LangGraph graphs, LLM providers, and the runs that execute them."""
