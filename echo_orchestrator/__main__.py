from __future__ import annotations

from echo_orchestrator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
