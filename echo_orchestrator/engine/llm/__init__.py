"""LLM providers, the offline `echo` model, usage and cost accounting."""
