"""What the kernel and ld.so read besides the headers: PT_INTERP, the dynamic
section and its strings (DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME,
DT_FLAGS_1), and the notes that give the build-id.  A part of
:class:`libsubst.elf.ElfFile`."""

import os

from .abi import DF_1_PIE, DT_FLAGS_1, DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_SONAME, \
    DT_STRSZ, DT_STRTAB, DYN, ET_DYN, NHDR, NT_GNU_BUILD_ID, PT_DYNAMIC, PT_INTERP, PT_NOTE, \
    DynEntry


_PATH_MAX = 4096   # Linux's PATH_MAX (linux/limits.h), binfmt_elf's bound on PT_INTERP


def _align_up(n, align):
    return -(-n // align) * align


class Dynamic:
    """The run path's reads beyond the headers, each parsed on first use.
    Uses ElfFile's bounds-checked access and its program headers."""

    def interp(self):
        """The ``PT_INTERP`` path (the program interpreter), or None.  Also
        None for a first ``PT_INTERP`` Linux's execve refuses (binfmt_elf:
        under 2 or over PATH_MAX bytes or no NUL at its end, ENOEXEC; past
        the file's end, EIO): the guest kernel's exec then refuses the
        program with that errno, as natively."""
        for s in self.segments:
            if s.p_type == PT_INTERP:
                if not 2 <= s.p_filesz <= _PATH_MAX or s.p_offset + s.p_filesz > self.size:
                    return None
                raw = self.bytes_at(s.p_offset, s.p_filesz, "PT_INTERP")
                if raw[-1]:
                    return None
                raw = raw.split(b"\0", 1)[0]
                if not raw:
                    raise self._corrupt("empty PT_INTERP")
                return os.fsdecode(raw)
        return None

    @property
    def is_static(self):
        """True if the kernel runs this file without a program interpreter."""
        return not any(s.p_type == PT_INTERP for s in self.segments)

    @property
    def is_pie(self):
        """True for a position-independent executable (including static-pie).

        ``DF_1_PIE`` is how binutils >= 2.26 marks one; older linkers left
        only the heuristic file(1) uses: ET_DYN with PT_INTERP and no soname.
        """
        if self.e_type != ET_DYN:
            return False
        if self.flags_1() & DF_1_PIE:
            return True
        return not self.is_static and self.soname() is None

    def dynamic(self):
        """The dynamic section's entries up to ``DT_NULL``, as DynEntry tuples."""
        if self._dynamic is None:
            entries = []
            # ld.so uses the last PT_DYNAMIC (glibc _dl_map_object_from_fd).
            segs = [s for s in self.segments if s.p_type == PT_DYNAMIC]
            if segs:
                s = segs[-1]
                raw = self.bytes_at(s.p_offset, s.p_filesz - s.p_filesz % DYN.size, "PT_DYNAMIC")
                for tag, val in DYN.iter_unpack(raw):
                    if tag == DT_NULL:
                        break
                    entries.append(DynEntry(tag, val))
            self._dynamic = entries
        return self._dynamic

    def dyn_value(self, tag):
        """The value of the last entry with *tag*, as ld.so keeps it, or None."""
        if self._dyn_values is None:            # a dict keeps each tag's last value
            self._dyn_values = {e.d_tag: e.d_val for e in self.dynamic()}
        return self._dyn_values.get(tag)

    def _dynstr(self, offset):
        """The NUL-terminated string at *offset* in the ``DT_STRTAB`` table,
        read where it lies: libLLVM's table is megabytes, and a plan opens
        it once for each of the 150 programs of an LLVM tool's package."""
        if self._strtab is None:
            addr = self.dyn_value(DT_STRTAB)
            if addr is None:
                raise self._corrupt("dynamic section without DT_STRTAB")
            seg = self._load_at(addr)
            if seg is None:
                raise self._corrupt("DT_STRTAB is not in any PT_LOAD segment")
            size = self.dyn_value(DT_STRSZ)
            if size is None:                # optional in practice: up to the segment's end
                size = seg.p_vaddr + seg.p_filesz - addr
            start = addr - seg.p_vaddr + seg.p_offset
            self._check(start, size, "DT_STRTAB")
            self._strtab = (start, start + size)
        start, stop = self._strtab
        end = self.data.find(b"\0", start + offset, stop)
        if offset >= stop - start or end < 0:
            raise self._corrupt(f"string offset {offset:#x} outside DT_STRTAB")
        return os.fsdecode(self.data[start + offset:end])

    def needed(self):
        """``DT_NEEDED`` names, in the order of the dynamic section."""
        return [self._dynstr(e.d_val) for e in self.dynamic() if e.d_tag == DT_NEEDED]

    def _path_list(self, tag):
        val = self.dyn_value(tag)
        return None if val is None else self._dynstr(val).split(":")

    def rpath(self):
        """``DT_RPATH`` split on ':' (as written, ``$ORIGIN`` unexpanded), or None."""
        return self._path_list(DT_RPATH)

    def runpath(self):
        """``DT_RUNPATH`` split on ':' (as written), or None."""
        return self._path_list(DT_RUNPATH)

    def soname(self):
        """``DT_SONAME``, or None."""
        val = self.dyn_value(DT_SONAME)
        return None if val is None else self._dynstr(val)

    def flags_1(self):
        """``DT_FLAGS_1`` (``DF_1_*`` bits), 0 if absent."""
        return self.dyn_value(DT_FLAGS_1) or 0

    # -- notes -------------------------------------------------------------

    def _notes(self):
        """``(n_type, name, desc)`` of every note in the PT_NOTE segments."""
        for s in self.segments:
            if s.p_type != PT_NOTE:
                continue
            data = self.bytes_at(s.p_offset, s.p_filesz, "PT_NOTE")
            # gABI: notes are 4-byte aligned; GNU property notes use 8 and
            # say so in p_align (binutils readelf does the same).
            align = 8 if s.p_align == 8 else 4
            pos = 0
            while pos + NHDR.size <= len(data):
                namesz, descsz, n_type = NHDR.unpack_from(data, pos)
                name_at = pos + NHDR.size
                desc_at = pos + _align_up(NHDR.size + namesz, align)
                end = desc_at + descsz
                if end > len(data):
                    # A malformed note ends the walk, not the run: ld.so
                    # ignores notes, and a file without a build-id is cached
                    # by its digest instead.
                    break
                yield n_type, data[name_at:name_at + namesz].rstrip(b"\0"), data[desc_at:end]
                pos += _align_up(end - pos, align)

    def build_id(self):
        """The GNU build-id (``NT_GNU_BUILD_ID``) as bytes, or None."""
        for n_type, name, desc in self._notes():
            if n_type == NT_GNU_BUILD_ID and name == b"GNU" and desc:
                return desc
        return None
