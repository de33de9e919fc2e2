"""Files and folders written safely: temporary siblings renamed into place, cleanup of what
killed processes left behind, and one exclusive lock per output folder.

Writers use them so that a reader never sees a half-written file or folder; ``DirLock`` lets a
tool refuse to write into a folder another live process is writing.

Temporary names are ``.{name}.tmp-{pid}-{hex}`` next to their target, so that a later run can
tell which ones belong to a dead process (``remove_stale_temps``).

Example:
    >>> with atomic_directory("exported/") as tmp:   # renamed to exported/ on success,
    ...     write_everything_into(tmp)               # removed on any exception
    >>> with DirLock("runs/ffhq", "training"):       # a second process gets LockedError
    ...     train()
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import sys

__all__ = [
    "temp_sibling",
    "atomic_write",
    "append_jsonl",
    "replace_directory",
    "atomic_directory",
    "remove_stale_temps",
    "pid_alive",
    "DirLock",
    "LockedError",
    "LOCK_NAME",
    "os_error_message",
]

LOCK_NAME = ".stylegan_tf.lock"
_TEMP_RE = re.compile(r"^\.(?P<base>.+)\.(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]+(?:\.[A-Za-z0-9]+)?$")


def temp_sibling(path, make_dir=False, kind="tmp") -> str:
    """A fresh hidden name next to ``path`` (same filesystem, so a rename is atomic).

    With ``make_dir`` the directory is created (permissions from the umask, unlike
    ``tempfile.mkdtemp``'s 0700); otherwise only the unused name is returned.
    """
    path = os.path.abspath(os.fspath(path))
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    suffix = "" if make_dir else os.path.splitext(base)[1]
    for _ in range(100):
        name = os.path.join(parent, f".{base}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")
        if make_dir:
            try:
                os.mkdir(name)
            except FileExistsError:
                continue
            return name
        if not os.path.lexists(name):
            return name
    raise FileExistsError(f"could not find a free temporary name next to {path}")


def atomic_write(path, write_fn) -> str:
    """Run ``write_fn(tmp_path)`` on a temporary sibling of ``path``, then rename it into place
    (readers never see a partial file). Returns ``path``."""
    path = os.fspath(path)
    tmp = temp_sibling(path)
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise
    return path


def append_jsonl(path, records) -> str:
    """Append one JSON line per record (a dict, or a list of dicts) to ``path``. The file is
    rewritten through `atomic_write` and fsynced, so a reader or a crash never sees half a line."""
    if isinstance(records, dict):
        records = [records]
    path = os.fspath(path)
    old = b""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            old = f.read()
        if old and not old.endswith(b"\n"):
            old += b"\n"
    new = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode("utf-8")

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(old + new)
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


def replace_directory(tmp, out_dir, overwrite=False) -> str:
    """Move the finished directory ``tmp`` to ``out_dir`` by renaming (same filesystem).

    An empty ``out_dir`` is replaced; a non-empty one raises ``FileExistsError`` unless
    ``overwrite``, in which case it is moved aside first and deleted after the rename.
    """
    tmp, out_dir = os.fspath(tmp), os.fspath(out_dir)
    trash = None
    if os.path.lexists(out_dir):
        if os.path.isdir(out_dir) and not os.path.islink(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)
        elif not overwrite:
            raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True)")
        else:
            trash = temp_sibling(out_dir, make_dir=True, kind="old")
            os.rename(out_dir, os.path.join(trash, "old"))
    os.rename(tmp, out_dir)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return out_dir


@contextlib.contextmanager
def atomic_directory(out_dir, overwrite=False):
    """Yield a fresh temporary sibling folder of ``out_dir``; on success rename it to ``out_dir``
    (``replace_directory`` rules), on any exception (KeyboardInterrupt included) delete it."""
    tmp = temp_sibling(out_dir, make_dir=True)
    try:
        yield tmp
        replace_directory(tmp, out_dir, overwrite)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(parent, base=None, log=None) -> list[str]:
    """Delete ``.{base}.tmp-{pid}-*`` / ``.{base}.old-{pid}-*`` entries in ``parent`` whose
    process is gone (left by a SIGKILLed writer). ``base=None`` matches any name. Each removal
    is reported through ``log`` (default: one line on stderr). Returns the removed paths."""
    parent = os.fspath(parent)
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in sorted(names):
        m = _TEMP_RE.match(name)
        if not m or (base is not None and m.group("base") != base):
            continue
        pid = int(m.group("pid"))
        if pid == os.getpid() or pid_alive(pid):
            continue
        path = os.path.join(parent, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(path)
        removed.append(path)
        (log or _stderr)(f"removed {path}, left behind by process {pid} which no longer runs")
    return removed


def _stderr(msg):
    print(msg, file=sys.stderr, flush=True)


class LockedError(RuntimeError):
    """Another live process holds the folder's lock."""


class DirLock:
    """An exclusive OS-level lock on a folder (``fcntl.flock`` on ``<dir>/.stylegan_tf.lock``).

    The kernel releases it when the holder exits in any way (SIGKILL included), so a lock can
    never go stale; the file only keeps the last holder's PID, host and purpose, used in the
    error message and to say when a dead run's lock is taken over. For a folder that must not
    exist yet (a dataset, an export), lock its future path: the lock file then lives beside it as
    ``.{name}.stylegan_tf.lock`` and stays there (an empty file) after release.
    """

    def __init__(self, directory, what="this tool", inside=True, log=None):
        directory = os.path.abspath(os.fspath(directory))
        self.directory = directory
        self.what = what
        self.log = log or _stderr
        if inside:
            self.path = os.path.join(directory, LOCK_NAME)
        else:
            parent, name = os.path.split(directory)
            self.path = os.path.join(parent, f".{name}{LOCK_NAME}")
        self._fd = None

    def acquire(self) -> DirLock:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            who = f"PID {holder.get('pid', '?')} on {holder.get('host', '?')}"
            if holder.get("what"):
                who += f" ({holder['what']})"
            raise LockedError(
                f"{self.directory} is in use by {who}; wait for it to finish or use another folder"
            ) from None
        old = _read_holder(fd)
        if old.get("pid") and (old.get("pid"), old.get("host")) != (os.getpid(), _host()):
            self.log(
                f"{self.directory}: taking over the lock of {old.get('what') or 'a process'} "
                f"(PID {old['pid']} on {old.get('host', '?')}), which has exited"
            )
        info = json.dumps({"pid": os.getpid(), "host": _host(), "what": self.what}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info + b"\n", 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        # The lock file is never deleted: a process already waiting on this inode would otherwise
        # hold a lock on a deleted file while a newcomer locks a fresh one, and both would write.

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _host() -> str:
    return socket.gethostname()


def _read_holder(fd) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data.decode()) if data.strip() else {}
    except (OSError, ValueError):
        return {}


def os_error_message(e: OSError) -> str:
    """``"<path>: <reason>"`` for an ``OSError`` (a missing, unreadable or unwritable path), the
    one line a command prints for it."""
    where = "" if e.filename is None else os.fspath(e.filename)
    if e.filename2 is not None:
        where = f"{where} -> {os.fspath(e.filename2)}"
    reason = e.strerror or str(e)
    if isinstance(e, FileExistsError) and where and not os.path.isdir(where):
        reason = "exists and is not a folder"  # os.makedirs through a file
    elif isinstance(e, NotADirectoryError):
        reason = "a part of this path is a file, not a folder"
    return f"{where}: {reason}" if where else reason
