"""Telling processes apart across machines and containers: where process ids can be
compared (``MACHINE``), whether a process is still the one that was seen (``started``), and
whether one is alive at all (``alive``). Used by the imports' runners and by the relay that
takes up the jobs of workers that died."""

from __future__ import annotations

import hashlib
import os
import socket

# Whether /proc can tell when a process started (Linux).
PROC = os.path.exists("/proc/self/stat")


def _machine() -> str:
    """Where this process's pids mean something: the host name, and a digest of its pid
    namespace, the kernel's boot and the machine's id (two containers, or two hosts, may
    share a host name and a namespace's inode; the boot id differs between hosts and
    between boots of one)."""
    facts = []
    try:
        facts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        facts.append("")
    for path in ("/proc/sys/kernel/random/boot_id", "/etc/machine-id"):
        try:
            with open(path) as known:
                facts.append(known.read().strip())
        except OSError:
            facts.append("")
    digest = hashlib.sha256("\n".join(facts).encode()).hexdigest()[:16]
    return f"{socket.gethostname()[:60].replace(':', '_')}/{digest}"


# Two processes whose MACHINE is the same see each other's pids.
MACHINE = _machine()


def started(pid: int) -> str | None:
    """When a process started (clock ticks since boot, from /proc), or None if it is gone
    (a zombie is gone); "" where there is no /proc to ask."""
    if not PROC:
        return ""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def alive(pid: int) -> bool:
    """Whether a process of this id exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
