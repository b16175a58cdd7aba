"""One line for any error that reaches the top of the CLI (``--debug`` prints the traceback too).

Why: a traceback tells a user nothing about what to do. The known error families (the data
dir, the database, the network, the file system) are phrased with the file or address they
concern; anything else keeps its type and message and points at ``--debug``.
"""

from __future__ import annotations

import errno
import os
import sqlite3


def one_line(exc: BaseException) -> str:
    from issuer.keys import KeyFileError
    from issuer.ports import KeyRecordError

    from .datadir import DataDirError
    from .store import DamagedRecord

    if isinstance(exc, DataDirError):
        return str(exc)
    if isinstance(exc, KeyFileError):
        return f"{exc.path}: {exc.reason}; restore it from a backup, or move it away to retire that key"
    if isinstance(exc, KeyRecordError):
        return f"{exc.name}: {exc.reason}; {exc.remedy}"
    if isinstance(exc, DamagedRecord):
        return f"state store: {exc}; restore the store from a backup, or delete that record (kind {exc.kind!r}, key {exc.key!r})"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"state database: {exc}; run `stsmock serve` to see which file, or restore it from a backup"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"{where}the disk is full; free some space"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"{where}{exc.strerror}; fix its owner or permissions"
        if isinstance(exc, ConnectionError | TimeoutError):
            return f"connection failed: {exc.strerror or exc or type(exc).__name__}"
        return f"{where}{exc.strerror or exc}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    hint = "" if os.environ.get("STSMOCK_DEBUG") else " (run with --debug for the traceback)"
    return f"unexpected error: {type(exc).__name__}{': ' + text[:300] if text else ''}{hint}"
