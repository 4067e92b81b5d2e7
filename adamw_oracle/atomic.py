"""Atomic file replacement: write a temporary file in the same directory, then ``os.replace``.

An interrupted write leaves either the old file or the new one, never a half-written or missing file
(``os.replace`` is atomic on POSIX and Windows when source and target are on one file system). The new
file keeps the mode of the file it replaces (0644 for a new file), its data is flushed to disk
(``fsync``) before the rename, and the directory entry after it.

Used by every writer of the package (``traces --write``, ``prove --format``), which is why it lives
beside :mod:`adamw_oracle.errors` and not in one layer. A process killed between creating and renaming
the temporary file leaves ``.NAME.XXXXXXXX.tmp`` behind (:data:`TEMPORARY_PATTERN`); ``traces`` reports
and removes such files on its next run.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

TEMPORARY_PATTERN = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")
"""Names of this writer's temporary files: ``.<target name>.<8 random characters>.tmp``."""


def write_atomically(path: Path | str, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` line ends) atomically.

    Raises:
        OSError: the directory cannot be created or written (nothing is left behind).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the target's mode, or the usual 0644 for a new file
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
