"""Example Echo Orchestrator plugin."""
