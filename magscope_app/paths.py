"""Where a daemon instance keeps its socket, token, pid file and logs.

* Runtime folder (socket, token, pid file; mode 0700): ``$MAGSCOPE_APP_RUNTIME_DIR``, else
  ``$XDG_RUNTIME_DIR/magscope-app``, else ``/tmp/magscope-app-<uid>``.
* State folder per instance (rotating logs, remembered settings):
  ``$MAGSCOPE_APP_STATE_DIR/<instance>``, else ``$XDG_STATE_HOME/magscope-app/<instance>``,
  else ``~/.local/state/magscope-app/<instance>``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,31}")


def validate_instance(name: str) -> str:
    """Return ``name`` if it is a valid instance name (1–32 letters, digits or ``_``)."""
    if not isinstance(name, str) or not _INSTANCE_NAME.fullmatch(name):
        raise ValueError(
            f"invalid instance name {name!r}: use 1-32 letters, digits or '_', starting with a "
            "letter or digit ('-' separates the parts of shared-memory names)"
        )
    return name


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def runtime_dir() -> Path:
    """The per-user runtime folder (created with mode 0700 if missing)."""
    if env := os.environ.get("MAGSCOPE_APP_RUNTIME_DIR"):
        return _private_dir(Path(env))
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        return _private_dir(Path(xdg) / "magscope-app")
    return _private_dir(Path("/tmp") / f"magscope-app-{os.getuid()}")


def state_dir(instance: str) -> Path:
    """The per-instance state folder (created if missing)."""
    validate_instance(instance)
    if env := os.environ.get("MAGSCOPE_APP_STATE_DIR"):
        base = Path(env)
    elif xdg := os.environ.get("XDG_STATE_HOME"):
        base = Path(xdg) / "magscope-app"
    else:
        base = Path.home() / ".local" / "state" / "magscope-app"
    return _private_dir(base / instance)


@dataclass(frozen=True)
class InstancePaths:
    """Files of one daemon instance."""

    instance: str
    socket: Path
    token: Path
    pid_file: Path
    state: Path

    @property
    def log_file(self) -> Path:
        return self.state / "daemon.log"


def instance_paths(instance: str) -> InstancePaths:
    """Paths of the files of daemon ``instance`` (folders are created, files are not)."""
    validate_instance(instance)
    rt = runtime_dir()
    return InstancePaths(
        instance=instance,
        socket=rt / f"{instance}.sock",
        token=rt / f"{instance}.token",
        pid_file=rt / f"{instance}.pid",
        state=state_dir(instance),
    )
