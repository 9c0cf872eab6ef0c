"""Files the app creates hold personal data or secrets (posts, users, tokens, spooled batches):
owner-only permissions, whatever the process umask. Directories 0700, files 0600."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

FILE_MODE, DIR_MODE = 0o600, 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing; the leaf directory is owner-only."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, and make it owner-only (read and write)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """`open(path, mode)` for writing ("w" or "a"), the file created owner-only."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.chmod(path, FILE_MODE)
    return os.fdopen(fd, mode, **kwargs)
