"""Which process runs an execution: recorded with it, so that another process can tell a
run that is still going from one whose process died.

An owner is `<host>/<boot id>:<pid>`. Anything not provably alive (another host, another
boot, our own pid reused) counts as dead.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _this_machine() -> str:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


MACHINE = _this_machine()


def this_process() -> str:
    return f"{MACHINE}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def owned_elsewhere(owner: str | None) -> bool:
    """Is the execution run by another process that is alive on this machine?"""
    if not owner:
        return False
    machine, _, pid = owner.rpartition(":")
    return machine == MACHINE and pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid))
