"""Encode the boot-info block (c_src/include/libsubst/bootinfo.h) that tells
the guest kernel what to boot: argv, environment, working directory, the
guest's root file system and its host-directory mounts.

The struct layouts come from the C header itself, through cffi (the build
makes ``libsubst._abi`` from it), so Python and C cannot disagree."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass

from ..errors import BuildError
from ..plan import GuestPlan
from .caller import ExecState
from ..volumes import Mount  # noqa: F401  (its older home)

try:
    from .._abi import ffi
except ImportError:  # pragma: no cover - only in a broken installation
    ffi = None

ENTRY_KINDS = {"dir": "LS_ENT_DIR", "file": "LS_ENT_HOST_FILE", "data": "LS_ENT_DATA_FILE",
               "symlink": "LS_ENT_SYMLINK", "image": "LS_ENT_IMAGE_FILE"}


# The plan is what is encoded; BootSpec is its older name, kept for callers.
BootSpec = GuestPlan

# Where the tender binds each host file of the image in a sandboxed guest's
# mount namespace: HOST_FILES/INDEX, INDEX its entry's (handover.h's
# LS_HOST_FILES, a string cffi cannot read; tests/test_layout.py checks they agree).
HOST_FILES = "/.libsubst-files"


def host_file_paths(spec: GuestPlan) -> dict[str, str]:
    """{the path a sandboxed guest's mount namespace shows: its host path}
    of spec's host files (what a tool outside reads in /proc/PID/maps)."""
    return {f"{HOST_FILES}/{i}": e.host_path for i, e in enumerate(spec.entries)
            if e.kind == "file"} if spec.policy else {}


def _abi():
    """The cffi types and the header's constants."""
    if ffi is None:
        raise BuildError("libsubst is not built: its ABI module is missing (reinstall with pip)")
    return ffi, ffi.dlopen(None)


def _align(n: int, a: int = 8) -> int:
    return (n + a - 1) & ~(a - 1)


def encode(spec: GuestPlan, caller: ExecState = ExecState()) -> bytes:
    """The boot-info block for ``spec``, ready to hand to the kernel."""
    f, lib = _abi()
    hdr_size = f.sizeof("struct ls_bootinfo")
    ent_size = f.sizeof("struct ls_fs_entry")
    mnt_size = f.sizeof("struct ls_mount")

    argv_off = _align(hdr_size)
    envp_off = _align(argv_off + 4 * len(spec.argv))
    entries_off = _align(envp_off + 4 * len(spec.env))
    mounts_off = _align(entries_off + ent_size * len(spec.entries))
    strings_off = _align(mounts_off + mnt_size * len(spec.mounts))
    # Parents first: the kernel mounts them in this order (a directory that
    # is two volumes: read-write on top, the guest kernel refuses writes
    # through the read-only one).
    mounts = sorted(spec.mounts, key=lambda m: (m.host, not m.readonly))

    strings = bytearray()
    seen: dict[str, int] = {}

    def s(text: str) -> int:
        if text in seen:
            return seen[text]
        off = strings_off + len(strings)
        strings.extend(text.encode("utf-8", "surrogateescape") + b"\0")
        seen[text] = off
        return off

    head = f.new("struct ls_bootinfo *")
    head.magic = lib.LS_BOOTINFO_MAGIC
    head.version = lib.LS_BOOTINFO_VERSION
    head.flags = (lib.LS_BOOT_TRACE if spec.trace_fd >= 0 else 0) | \
        (lib.LS_BOOT_NET_NONE if spec.net == "none" else 0) | \
        (0 if spec.policy else lib.LS_BOOT_NO_POLICY) | \
        (lib.LS_BOOT_TRACE_SUMMARY if spec.trace_summary else 0) | \
        (lib.LS_BOOT_TRACE_JSON if spec.trace_json else 0) | \
        (lib.LS_BOOT_DENY if spec.deny_calls else 0) | \
        (0 if spec.trap else lib.LS_BOOT_NO_TRAP) | \
        (lib.LS_BOOT_WEAKER_SANDBOX if spec.weaker_sandbox else 0) | \
        (lib.LS_BOOT_INIT if spec.init else 0) | \
        (lib.LS_BOOT_INIT_RULE if spec.init_rule else 0) | \
        (lib.LS_BOOT_HOST_ROOT_IDS if spec.host_ids == (0, 0) else 0) | \
        spec.closed_stdio * lib.LS_BOOT_CLOSED_STDIN
    if not spec.trap and spec.policy:
        raise BuildError("the trap can be left off only without the sandbox (policy=False)")
    head.trace_fd = spec.trace_fd
    head.report_fd = spec.report_fd
    head.uid, head.gid = spec.uid, spec.gid
    head.exe, head.execfn, head.cwd = s(spec.exe), s(spec.execfn), s(spec.cwd)
    head.hostname = s(spec.hostname)
    head.argc, head.argv_off = len(spec.argv), argv_off
    head.envc, head.envp_off = len(spec.env), envp_off
    head.nentries, head.entries_off = len(spec.entries), entries_off
    head.nmounts, head.mounts_off = len(spec.mounts), mounts_off
    head.image_fd = spec.image_fd
    head.host_uid, head.host_gid = spec.host_ids or (0, 0)
    head.port_fd = head.shared_fd = -1
    head.core_fd = spec.core_fd
    head.debug_fd = spec.debug_fd
    head.trace_sum_fd = spec.trace_sum_fd
    for nr in range(lib.LS_TRACE_MAP_BITS):
        if spec.trace_calls is None or nr in spec.trace_calls:
            head.trace_calls[nr // 64] |= 1 << (nr % 64)
        if nr in spec.deny_calls:
            head.deny_calls[nr // 64] |= 1 << (nr % 64)
    limits = spec.limits            # what /sys/fs/cgroup shows
    head.mem_max, head.cpus, head.pids_max = limits.memory or 0, limits.cpus or 0, limits.pids or 0
    # Not the plan's: the caller's, which the front end sets again in a
    # cached block (c_src/frontend/boot.c).
    head.caller_blocked = sum(1 << (s - 1) for s in caller.blocked)
    head.caller_pending = sum(1 << (s - 1) for s in caller.pending)
    for w, (value, interval) in enumerate(caller.itimers):
        head.itimers[w][0], head.itimers[w][1] = value, interval
    groups = caller.groups[:lib.LS_BOOT_GROUPS]
    head.ngroups = len(groups)
    for i, gid in enumerate(groups):
        head.groups[i] = gid

    argv = f.new("uint32_t[]", [s(a) for a in spec.argv] or [0])
    envp = f.new("uint32_t[]", [s(e) for e in spec.env] or [0])
    ents = f.new("struct ls_fs_entry[]", max(1, len(spec.entries)))
    datas: list[tuple[int, bytes]] = []
    for i, e in enumerate(spec.entries):
        ents[i].path = s(e.path)
        ents[i].kind = getattr(lib, ENTRY_KINDS[e.kind])
        ents[i].mode = e.mode & 0o7777
        if e.kind == "file":
            ents[i].target = s(e.host_path)
        elif e.kind == "symlink":
            ents[i].target = s(e.target)
        elif e.kind == "data":
            datas.append((i, e.data))
            ents[i].mtime_ns = e.mtime or 0
        elif e.kind == "image":
            ents[i].data_off, ents[i].data_size = e.offset, e.size
            ents[i].mtime_ns = e.mtime or 0
    mnts = f.new("struct ls_mount[]", max(1, len(spec.mounts)))
    for i, m in enumerate(mounts):
        mnts[i].guest, mnts[i].host = s(m.guest), s(m.host)
        mnts[i].flags = (lib.LS_MNT_RDONLY if m.readonly else 0) | \
            (lib.LS_MNT_SCRATCH if m.scratch else 0)
        mnts[i].size_mib = -(-(m.size or 0) >> 20)
        mnts[i].mode = m.mode or 0
        mnts[i].gid = m.gid or 0

    data = bytearray()
    data_base = _align(strings_off + len(strings))
    for i, blob in datas:
        ents[i].data_off = data_base + len(data)
        ents[i].data_size = len(blob)
        data.extend(blob)
        data.extend(b"\0" * (_align(len(data)) - len(data)))

    total = data_base + len(data)
    head.size = total
    out = bytearray(total)
    out[0:hdr_size] = f.buffer(head)
    out[argv_off:argv_off + 4 * len(spec.argv)] = f.buffer(argv)[:4 * len(spec.argv)]
    out[envp_off:envp_off + 4 * len(spec.env)] = f.buffer(envp)[:4 * len(spec.env)]
    out[entries_off:entries_off + ent_size * len(spec.entries)] = \
        f.buffer(ents)[:ent_size * len(spec.entries)]
    out[mounts_off:mounts_off + mnt_size * len(spec.mounts)] = \
        f.buffer(mnts)[:mnt_size * len(spec.mounts)]
    out[strings_off:strings_off + len(strings)] = strings
    out[data_base:] = data
    return bytes(out)


@dataclass(frozen=True)
class Entry:
    """A boot-info entry read back: what report.placed_file needs."""

    path: str
    kind: str                  # ENTRY_KINDS' keys
    target: str = ""           # a symlink's target
    host_path: str = ""        # a host file's path


def decode(block: bytes) -> tuple[list[Entry], str, int]:
    """(entries, exe, mem_max) of a boot-info block ``encode`` made: what the
    epilogue (monitor/epilogue.py) says after a guest it no longer holds the
    plan of.  Checked against the block's bounds: a bad block is a
    BuildError."""
    f, lib = _abi()
    hdr_size, ent_size = f.sizeof("struct ls_bootinfo"), f.sizeof("struct ls_fs_entry")
    if len(block) < hdr_size:
        raise BuildError("boot info: shorter than its header")
    head = f.cast("struct ls_bootinfo *", f.from_buffer(block))
    if head.magic != lib.LS_BOOTINFO_MAGIC or head.entries_off + ent_size * head.nentries > len(block):
        raise BuildError("boot info: not a block of this libsubst")
    kinds = {getattr(lib, c): k for k, c in ENTRY_KINDS.items()}

    def s(off: int) -> str:
        end = block.find(b"\0", off)
        return block[off:end if end >= 0 else len(block)].decode("utf-8", "surrogateescape") \
            if off else ""
    ents = f.cast("struct ls_fs_entry *", f.from_buffer(memoryview(block)[head.entries_off:]))
    entries = []
    for i in range(head.nentries):
        e = ents[i]
        kind = kinds.get(e.kind, "dir")
        entries.append(Entry(s(e.path), kind, s(e.target) if kind == "symlink" else "",
                             s(e.target) if kind == "file" else ""))
    return entries, s(head.exe), head.mem_max


def memfd(block: bytes) -> int:
    """A close-on-exec memfd holding a boot-info ``block`` (encode's), sealed: every
    guest process holds it and a guest's execve boots the next kernel from
    it again (proc/execve.c), so none may change it (no writes, no
    resizing, no unsealing)."""
    fd = os.memfd_create("libsubst-bootinfo", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        data = memoryview(block)
        while data:
            data = data[os.write(fd, data):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK |
                    fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd
