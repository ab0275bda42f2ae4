"""Atomic file and folder writes: a failure (or a kill) mid-write never leaves a partial result.

Writers produce into a temporary sibling (same filesystem) and rename it into place only when the
write has finished. On any exception the temporary is removed and the previous file or folder, if
there was one, stays as it was.

Example:
    >>> with atomic_file("out/song.mid") as tmp:      # doctest: +SKIP
    ...     midi.write(str(tmp))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_file", "atomic_files", "atomic_dir", "folder_bytes", "require_free_space"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def folder_bytes(path: str | os.PathLike) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def require_free_space(folder: str | os.PathLike, needed: int, what: str, *, freed: int = 0) -> None:
    """Raise ``OSError(ENOSPC)`` naming ``what`` when the filesystem of ``folder`` has less than
    ``needed`` bytes free (plus ``freed``, bytes the caller deletes before writing), so a write that
    cannot fit is refused before it starts rather than failing half-way."""
    import errno

    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free + freed
    if free < needed:
        raise OSError(errno.ENOSPC, f"not enough free space for {what}: it needs about {_size(needed)} "
                      f"and {_size(free)} are free", str(folder))


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it to ``path`` on success.
    An OS error about the temporary (or about no file, e.g. a full disk under a writer) is
    re-raised as one about ``path``, the file the user asked for."""
    path = Path(path)
    prefix = str(path.parent / f".{path.stem}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise _about(path, prefix, err)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OSError(f"writing {path} produced no data")
        os.chmod(tmp, 0o666 & ~_umask())                 # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _about(path, prefix, err)
        raise


def _about(path: Path, prefix: str, err: OSError) -> OSError:
    """``err``, or the same error naming ``path`` when it names a temporary beside it or no file."""
    if err.errno is None or (err.filename is not None and not str(err.filename).startswith(prefix)):
        return err
    renamed = OSError(err.errno, err.strerror, str(path))
    renamed.__cause__ = err
    return renamed


@contextlib.contextmanager
def atomic_files(paths: list[str | os.PathLike]) -> Iterator[list[Path]]:
    """:func:`atomic_file` for files that belong together (e.g. a MIDI file and its audio rendering):
    yields one temporary path per file and renames them all into place only once every one is
    written, so a failure leaves none of the new files (and any old ones as they were)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_file(path)) for path in paths]


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; swap it in for ``path`` on success.

    An existing folder at ``path`` is replaced only after the new one is complete: it is renamed
    aside, the new folder renamed into place, then the old one deleted.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for item in tmp.rglob("*"):                          # libraries may create files 0600; use the usual mode
        os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~_umask())
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
