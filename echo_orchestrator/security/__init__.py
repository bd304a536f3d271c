"""Trust: who calls (API keys, JWT), what may leave the machine (LLM egress), what is never
shown (secrets scrubbed, settings masked). Pure logic, no HTTP: `api/` applies it to requests.
"""
