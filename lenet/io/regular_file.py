"""Read a file only if it is a regular file: a FIFO, a socket, a device or a folder is refused, never waited on.

``open()`` of a FIFO blocks until a writer appears, and reading a device may
never end, so readers of user-named files go through :func:`read_regular`:
it opens with ``O_NONBLOCK`` (which makes opening a FIFO return at once and
does nothing to a regular file), checks the kind of what it opened with
``fstat`` (so a file swapped after a check cannot slip through), and only
then reads.  :func:`open_regular` does the same for a reader that streams
the file (a hash of a large image) instead of holding all its bytes.
Errors are :class:`OSError`s whose ``strerror`` says what was found, for the
caller to wrap in its own error type with the file's name.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class NotRegularFile(OSError):
    """The path names something other than a regular file."""


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


@contextlib.contextmanager
def open_regular(path: str | os.PathLike):
    """The regular file ``path`` open for binary reading (anything else raises :class:`NotRegularFile`)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, f"not a regular file but {kind_of(st.st_mode)}", str(path))
        yield f


def read_regular(path: str | os.PathLike) -> bytes:
    """The bytes of the regular file ``path``."""
    with open_regular(path) as f:
        return f.read()
