"""Reader for ``/etc/ld.so.cache``, the library cache ldconfig(8) writes.

ld.so(8) consults the cache after ``DT_RPATH``, ``LD_LIBRARY_PATH`` and
``DT_RUNPATH``.  The layout follows glibc 2.36 ``sysdeps/generic/dl-cache.h``:

- new format: ``"glibc-ld.so.cache" "1.1"``, nlibs, len_strings, flags, …
  then 24-byte entries ``(int32 flags, uint32 key, uint32 value,
  uint32 osversion, uint64 hwcap)``; key and value are offsets of the
  soname and the path from the start of this header;
- old format (``"ld.so-1.7.0"``, 12-byte entries, strings after the entries),
  possibly followed by a new-format cache at the next 8-byte boundary,
  which glibc then prefers.

A missing or corrupt cache is an empty mapping, as for ld.so, which then
falls back to its default directories.
"""

import functools
import os
import struct
import types

CACHE_PATH = "/etc/ld.so.cache"

_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_OLD_MAGIC = b"ld.so-1.7.0"
_NEW_HEADER = struct.Struct("<20sIIB3xI12x")  # struct cache_file_new, 48 bytes
_NEW_ENTRY = struct.Struct("<iIIIQ")  # struct file_entry_new, 24 bytes
_OLD_HEADER = struct.Struct("<11sxI")  # struct cache_file, 16 bytes
_OLD_ENTRY = struct.Struct("<iII")  # struct file_entry, 12 bytes

# FLAG_ELF_LIBC6 | FLAG_X8664_LIB64: the only entries x86-64's ld.so accepts
# (sysdeps/unix/sysv/linux/x86_64/dl-cache.h, _dl_cache_check_flags).
X86_64_FLAGS = 0x0303


def _string(data, base, offset):
    start = base + offset
    end = data.find(b"\0", start)
    if offset < 0 or start >= len(data) or end < 0:
        return None
    return os.fsdecode(data[start:end])


def _entries(data, base, table, count, layout):
    """``(flags, soname, path)`` of valid entries; strings relative to *base*."""
    if count > (len(data) - table) // layout.size:
        return None
    result = []
    for i in range(count):
        flags, key, value = layout.unpack_from(data, table + i * layout.size)[:3]
        name, path = _string(data, base, key), _string(data, base, value)
        # glibc skips an entry whose strings lie outside the file
        # (_dl_cache_verify_ptr), not the whole cache.
        if name is not None and path is not None:
            result.append((flags, name, path))
    return result


def parse(data):
    """Map soname -> paths of the x86-64 entries of cache bytes *data*, in cache order."""
    entries = None
    new_at = 0
    if data.startswith(_OLD_MAGIC) and len(data) >= _OLD_HEADER.size:
        (_, nlibs) = _OLD_HEADER.unpack_from(data)
        table_end = _OLD_HEADER.size + nlibs * _OLD_ENTRY.size
        entries = _entries(data, table_end, _OLD_HEADER.size, nlibs, _OLD_ENTRY)
        new_at = -(-table_end // 8) * 8
    if data[new_at:new_at + len(_NEW_MAGIC)] == _NEW_MAGIC and len(data) >= new_at + _NEW_HEADER.size:
        _, nlibs, _len_strings, flags, _ext = _NEW_HEADER.unpack_from(data, new_at)
        # Low two flag bits: byte order; 0 (unknown) or 2 (little) is usable here.
        if flags & 3 in (0, 2):
            entries = _entries(data, new_at, new_at + _NEW_HEADER.size, nlibs, _NEW_ENTRY)
    mapping = {}
    for flags, name, path in entries or ():
        if flags == X86_64_FLAGS:
            mapping.setdefault(name, []).append(path)
    return mapping


def load(path=CACHE_PATH):
    """Parse the cache file at *path*; empty if it is missing or corrupt."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    return parse(data)


@functools.cache
def get_cache(root: str = ""):
    """``/etc/ld.so.cache`` of the host (or of the root file system at
    ``root``), read once per process (read-only view)."""
    return types.MappingProxyType(load(root + CACHE_PATH))
