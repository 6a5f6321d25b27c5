"""gdb's Host I/O packets (``vFile:``), served from the guest's view of its
files: what ``info proc``, ``gcore`` and a ``target:`` sysroot read.

Every path is opened by the guest (inject.py): the guest kernel resolves
it in the guest's root, volumes and synthetic /proc, with the guest's
credentials, so a path the guest cannot open fails as it would in the
guest, and gdb — a client on a socket — reaches nothing of the host's
that the guest cannot.  One exception: the guest kernel's own binary,
which the server names in the library list (libraries.py) and the guest
runs but cannot open, is read from the host.  The guest's fd is taken by
the server and closed in the guest at once; reads and writes are the
server's, on the file the guest opened with the access it asked.

gdb names processes by the guest's pids (runcontrol.tid_out), so its
``/proc/PID`` paths are the guest's own.  Numbers, flags, errnos and the stat layout are
the File-I/O protocol's (gdb's manual, "Host I/O Packets", "Protocol-
specific Representation of Datatypes")."""

from __future__ import annotations

import errno
import os
import struct

from .inject import Buf
from .protocol import escape

# The File-I/O protocol's open flags and their Linux values.
_OPEN_FLAGS = {0x1: os.O_WRONLY, 0x2: os.O_RDWR, 0x8: os.O_APPEND, 0x200: os.O_CREAT,
               0x400: os.O_TRUNC, 0x800: os.O_EXCL}
# Its errno values (the same numbers as Linux's but ENAMETOOLONG);
# anything else is EUNKNOWN.
_ERRNOS = {errno.EPERM: 1, errno.ENOENT: 2, errno.EINTR: 4, errno.EBADF: 9, errno.EACCES: 13,
           errno.EFAULT: 14, errno.EBUSY: 16, errno.EEXIST: 17, errno.ENODEV: 19,
           errno.ENOTDIR: 20, errno.EISDIR: 21, errno.EINVAL: 22, errno.ENFILE: 23,
           errno.EMFILE: 24, errno.EFBIG: 27, errno.ENOSPC: 28, errno.ESPIPE: 29,
           errno.EROFS: 30, errno.ENAMETOOLONG: 91}
_EUNKNOWN = 9999
# struct stat as the protocol sends it: big-endian, 32-bit ids and times.
_STAT = struct.Struct(">IIIIIIIQQQIII")
_STAT_LINUX = struct.Struct("<QQQIIIIQqqqQQQQQQ")   # x86-64 struct stat, through st_ctim
_STAT_LINUX_SIZE = 144                               # with its reserved words
_NR_OPENAT, _NR_CLOSE, _NR_FSTAT, _NR_READLINKAT, _NR_PREAD64 = 257, 3, 5, 267, 17
_SYNTHETIC = (b"/proc/", b"/sys/")    # the kernel makes these files' bytes at read
_READ_CHUNK = 1 << 16
_SYNTHETIC_MAX = 16 << 20
_AT_FDCWD = -100
_PATH_MAX = 4096
_MAX_OPEN = 64               # files gdb may hold open at once
_MAX_READ = 0x3000           # bytes a pread answers (escaped, within PacketSize)


def _fail(e: int) -> str:
    return f"F-1,{_ERRNOS.get(e, _EUNKNOWN):x}"


class HostIO:
    """The files gdb holds open, by the handles it was given."""

    def __init__(self, calls, stopped, kernel: str):
        self.calls = calls        # inject.GuestCalls
        self.stopped = stopped    # () -> a stopped thread of the process
        self.kernel = os.path.realpath(kernel)
        self.files: dict[int, tuple[int, bytes | None]] = {}   # handle: (fd, guest fstat)

    def close(self) -> None:
        for fd, _ in self.files.values():
            os.close(fd)
        self.files.clear()

    def packet(self, text: str) -> str:
        op, _, args = text[len("vFile:"):].partition(":")
        handler = getattr(self, "_" + op, None) if op in (
            "setfs", "open", "pread", "pwrite", "close", "fstat", "readlink") else None
        if handler is None:
            return ""
        try:
            return handler(args)
        except OSError as e:
            return _fail(e.errno or errno.EIO)

    # ---- the packets --------------------------------------------------------------

    def _setfs(self, args: str) -> str:
        # Whichever process gdb names, the files are the guest's; the
        # server's own (pid 0) are never served.
        int(args, 16)
        return "F0"

    def _open(self, args: str) -> str:
        name, flags, mode = args.split(",")
        path = self._guest_path(bytes.fromhex(name))
        host_flags = 0
        for bit, value in _OPEN_FLAGS.items():
            if int(flags, 16) & bit:
                host_flags |= value
        if len(self.files) >= _MAX_OPEN:
            return _fail(errno.EMFILE)
        if path == self.kernel.encode() and not host_flags:
            fd = os.open(self.kernel, os.O_RDONLY | os.O_CLOEXEC)
            info = None
        else:
            fd, info = self._guest_open(path, host_flags, int(mode, 16) & 0o7777)
        handle = next(h for h in range(len(self.files) + 1) if h not in self.files)
        self.files[handle] = (fd, info)
        return f"F{handle:x}"

    def _pread(self, args: str) -> str | bytes:
        handle, count, offset = (int(x, 16) for x in args.split(","))
        if not 0 <= offset < 1 << 63 or count < 0:
            return _fail(errno.EINVAL)
        data = os.pread(self._fd(handle), min(count, _MAX_READ), offset)
        return b"F%x;" % len(data) + escape(data)

    def _pwrite(self, args: str) -> str:
        handle, offset, data = args.split(",", 2)
        if not 0 <= int(offset, 16) < 1 << 63:
            return _fail(errno.EINVAL)
        return f"F{os.pwrite(self._fd(int(handle, 16)), data.encode('latin-1'), int(offset, 16)):x}"

    def _close(self, args: str) -> str:
        fd, _ = self.files.pop(int(args, 16), (None, None))
        if fd is None:
            return _fail(errno.EBADF)
        os.close(fd)
        return "F0"

    def _fstat(self, args: str) -> str | bytes:
        handle = int(args, 16)
        fd = self._fd(handle)
        info = self.files[handle][1]
        if info is None:
            st = os.fstat(fd)
            fields = (st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid,
                      st.st_rdev, st.st_size, st.st_blksize, st.st_blocks,
                      int(st.st_atime), int(st.st_mtime), int(st.st_ctime))
        else:
            (dev, ino, nlink, mode, uid, gid, _pad, rdev, size, blksize, blocks,
             atime, _an, mtime, _mn, ctime, _cn) = _STAT_LINUX.unpack_from(info)
            fields = (dev, ino, nlink, mode, uid, gid, rdev, size, blksize, blocks,
                      atime, mtime, ctime)
        dev, ino, nlink, mode, uid, gid, rdev, size, blksize, blocks, at, mt, ct = fields
        m = 0xFFFFFFFF
        data = _STAT.pack(dev & m, ino & m, mode & m, nlink & m, uid & m, gid & m, rdev & m,
                          size, blksize, blocks, at & m, mt & m, ct & m)
        return b"F%x;" % len(data) + escape(data)

    def _readlink(self, args: str) -> str | bytes:
        path = self._guest_path(bytes.fromhex(args))
        tid = self.stopped()
        r, target = self.calls.call(tid, _NR_READLINKAT,
                                    (_AT_FDCWD, Buf(0), Buf(len(path) + 1), _PATH_MAX),
                                    path + b"\0" + bytes(_PATH_MAX), len(path) + 1 + _PATH_MAX)
        if _signed(r) < 0:
            return _fail(-_signed(r))
        data = target[len(path) + 1:len(path) + 1 + r]
        return b"F%x;" % len(data) + escape(data)

    # ---- helpers -----------------------------------------------------------------

    def _fd(self, handle: int) -> int:
        try:
            return self.files[handle][0]
        except KeyError:
            raise OSError(errno.EBADF, "no such handle") from None

    def _guest_open(self, path: bytes, flags: int, mode: int) -> tuple[int, bytes]:
        """The guest opens path (never a tty of its own: O_NOCTTY; never a
        FIFO's wait: O_NONBLOCK); its fd's stat as the guest sees it, and
        the server's copy of the file."""
        tid = self.stopped()
        flags |= os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
        r, _ = self.calls.call(tid, _NR_OPENAT, (_AT_FDCWD, Buf(0), flags, mode), path + b"\0")
        if _signed(r) < 0:
            raise OSError(-_signed(r), os.strerror(-_signed(r)))
        try:
            st, info = self.calls.call(tid, _NR_FSTAT, (r, Buf(0)), bytes(_STAT_LINUX_SIZE),
                                       _STAT_LINUX.size)
            if path.startswith(_SYNTHETIC) and not flags & (os.O_WRONLY | os.O_RDWR):
                fd = self._read_through_guest(tid, r)
            else:
                fd = self.calls.take_fd(r)
        finally:
            self.calls.call(tid, _NR_CLOSE, (r,))
        return fd, (info if _signed(st) == 0 else None)

    def _read_through_guest(self, tid: int, r: int) -> int:
        """A /proc or /sys file's bytes as the guest reads them (its kernel
        makes them at a read, from the host's file, which a copy of the fd
        would read unrewritten), in a memfd of the server's."""
        data = bytearray()
        while len(data) < _SYNTHETIC_MAX:
            n, chunk = self.calls.call(tid, _NR_PREAD64, (r, Buf(0), _READ_CHUNK, len(data)),
                                       bytes(_READ_CHUNK), _READ_CHUNK)
            if _signed(n) < 0:
                raise OSError(-_signed(n), os.strerror(-_signed(n)))
            if n == 0:
                break
            data += chunk[:n]
        fd = os.memfd_create("guest-file", os.MFD_CLOEXEC)
        os.write(fd, data)
        return fd

    @staticmethod
    def _guest_path(path: bytes) -> bytes:
        if b"\0" in path:
            raise OSError(errno.EINVAL, "a NUL in a path")
        if len(path) >= _PATH_MAX:
            raise OSError(errno.ENAMETOOLONG, "path too long")
        return path


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v
