"""openat2 in the allow-list: the kernel resolves a volume path in one
call (fs/beneath.c), with the two open_hows its text holds.  A filter
cannot read an open_how's mode, so these check what keeps a guest that
jumps into kernel text from making openat2 create a set-user-ID file: the
filter's pins of the pointer to those structs, and the seal on the text
that holds them."""

import struct
from importlib import resources

from libsubst.kernel import hostcalls, open_how, seccomp

from conftest import build_c, run_guest

O_CREAT, O_TMPFILE = 0o100, 0o20000000


KERNEL = str(resources.files("libsubst") / "_bin" / "libsubst-kernel")


def test_no_other_syscall_in_kernel_text_meets_an_open_how_that_sets_an_id(tmp_path):
    """The pins say: how = the call's return address - RESOLVE_IP (or
    OPEN_RO_IP).  A guest can make the call from any `syscall` bytes in the
    text (0f 05, whole instructions or not), each pinning how to places of
    its own in the sealed pages: none of those holds an open_how that
    openat2 would take and that makes a file with a set-user/group-ID mode,
    and none lies outside the sealed pages (the text and the read-only
    ones before it).  (A specialised kernel is checked as it is linked.)"""
    data, start, sym = open_how.sealed(KERNEL)
    call = sym[open_how.CALL]
    sites = [i + 2 for i in range(start, len(data) - 1) if data[i:i + 2] == b"\x0f\x05"]
    assert call in sites and len(sites) > 100          # the scan sees the kernel's calls
    for how in open_how.HOWS:                          # the kernel's own: no file made
        flags, mode, resolve = struct.unpack_from("<QQQ", data, sym[how])
        assert (flags & (O_CREAT | O_TMPFILE), mode, resolve) == (0, 0, 0x0E)
    assert open_how.forged_open_hows(KERNEL) == []
    # ... and the scan would see one: the kernel's own text with a set-ID
    # open_how written where another call's pin points.
    other = next(ip for ip in sites if ip != call and ip - 200 > start)
    forged = bytearray(open(KERNEL, "rb").read())
    struct.pack_into("<QQQ", forged, other - (call - sym[open_how.HOWS[0]]), O_CREAT | 1, 0o4755, 0)
    (tmp_path / "forged").write_bytes(forged)
    assert (other, "an open_how that makes a set-ID file") in \
        open_how.forged_open_hows(str(tmp_path / "forged"))


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
    ips = (hostcalls.RESOLVE_IP, hostcalls.OPEN_RO_IP, hostcalls.OPEN_RD_IP, hostcalls.OPEN_NB_IP)
    assert [(p.values, p.deny) for p in entry.pins] == [((hostcalls.HOW_SIZE,), False)]
    assert [(a.values, a.wide) for p in entry.pins for a in p.also] == [
        (tuple(hostcalls.BeforeIP(ip) for ip in ips), True)]
    _, slots = seccomp.compile_filter()
    assert {*ips, hostcalls.HOW_SIZE} <= set(slots)
