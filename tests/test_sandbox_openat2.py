"""openat2 in the allow-list: the kernel resolves a volume path's
directories in one call (fs/beneath.c), with the one open_how its text
holds.  A filter cannot read an open_how's mode, so these check what keeps
a guest that jumps into kernel text from making openat2 create a
set-user-ID file: the filter's pin of the pointer to that one struct, and
the seal on the text that holds it."""

import struct
from importlib import resources

from elftools.elf.elffile import ELFFile

from libsubst.kernel import hostcalls, seccomp

from conftest import build_c, run_guest

O_CREAT, O_TMPFILE = 0o100, 0o20000000


def _kernel_text():
    """The kernel binary's sealed memory, from its first page to the end
    of its text, as mapped (the file's bytes: the segments up to the text
    are mapped at their file offsets): (those bytes, where the text starts
    in them, the filter's RESOLVE_IP and OPEN_RO_IP slots as the tender
    computes them, the symbols)."""
    path = resources.files("libsubst") / "_bin" / "libsubst-kernel"
    with open(path, "rb") as f:
        elf = ELFFile(f)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        (text,) = [s for s in loads if s["p_flags"] & 1]
        assert loads[0]["p_vaddr"] == 0
        assert all(s["p_offset"] == s["p_vaddr"] for s in loads if s["p_vaddr"] <= text["p_vaddr"])
        sym = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
        slots = [sym["ls_resolve_ip"] - sym[how] for how in ("ls_resolve_how", "ls_open_ro_how")]
        f.seek(0)
        return f.read(text["p_vaddr"] + text["p_filesz"]), text["p_vaddr"], slots, sym


def test_no_other_syscall_in_kernel_text_meets_an_open_how_that_sets_an_id():
    """The pins say: how = the call's return address - RESOLVE_IP (or
    OPEN_RO_IP).  A guest can make the call from any `syscall` bytes in the
    text (0f 05, whole instructions or not), each pinning how to places of
    its own in the sealed text: none of those holds an open_how that
    openat2 would take and that makes a file with a set-user/group-ID mode,
    and none lies outside the sealed pages (the text and the
    read-only ones before it)."""
    data, start, slots, sym = _kernel_text()
    genuine = sym["ls_resolve_ip"]
    sites = [i + 2 for i in range(start, len(data) - 1) if data[i:i + 2] == b"\x0f\x05"]
    assert genuine in sites and len(sites) > 100          # the scan sees the kernel's calls
    bad = []
    for ip in sites:
        for slot in slots:
            how = ip - slot
            if how < 0 or how + 24 > len(data):
                bad.append((hex(ip), "how outside the sealed pages"))
                continue
            flags, mode, resolve = struct.unpack_from("<QQQ", data, how)
            if ip == genuine:
                assert (flags & (O_CREAT | O_TMPFILE), mode, resolve) == (0, 0, 0x0E)
                continue
            if (flags >> 32 == 0 and flags & (O_CREAT | O_TMPFILE) and mode & ~0o7777 == 0
                    and mode & 0o6000 and resolve >> 6 == 0):
                bad.append((hex(ip), (hex(flags), oct(mode), hex(resolve))))
    assert bad == []


def test_openat2_from_kernel_text_takes_only_the_sealed_open_how(tmp_path):
    """The guest's own open_how, at the kernel's openat2 or another
    `syscall`: seccomp's pin answers EPERM; rewriting the genuine one in
    place: the host's seal (mseal) refuses to make its page writable."""
    exe = build_c("forge_open_how", str(tmp_path))
    vol = tmp_path / "vol"
    vol.mkdir()
    r = run_guest(["--no-subst", exe, str(vol)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        "genuine: flags 0x290000 mode 0",                      # O_PATH | O_DIRECTORY | O_CLOEXEC
        "openat2 the genuine how: OPENED",                     # what the kernel's walk uses
        "openat2 a forged how at its call: Operation not permitted",      # seccomp's pin
        "openat2 a forged how at another call: Operation not permitted",  # seccomp's pin
        "mprotect its page writable: Operation not permitted"], r.stdout  # the host's mseal
    assert not (vol / "setuid").exists()


def test_the_filter_pins_openat2_to_the_size_and_the_struct():
    """The allow-list's entry, as compiled: a size slot and a pin relative
    to the call site, no openat2 allowed otherwise."""
    (entry,) = [h for h in hostcalls.KERNEL_OWN if h.name == "openat2"]
    assert [(p.values, p.deny) for p in entry.pins] == [((hostcalls.HOW_SIZE,), False)] * 2
    assert [(a.values, a.wide) for p in entry.pins for a in p.also] == [
        ((hostcalls.BeforeIP(hostcalls.RESOLVE_IP),), True),
        ((hostcalls.BeforeIP(hostcalls.OPEN_RO_IP),), True)]
    _, slots = seccomp.compile_filter()
    assert {hostcalls.RESOLVE_IP, hostcalls.OPEN_RO_IP, hostcalls.HOW_SIZE} <= set(slots)
