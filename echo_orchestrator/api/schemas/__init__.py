"""Response bodies of the HTTP API that are not models of the shared vocabulary."""
