"""Compile the host-call allow-list (hostcalls.py) into a classic-BPF seccomp
filter: a binary search over the allowed numbers (so a host call costs a
handful of comparisons, not two hundred), pinned arguments checked in blocks
of their own, everything else killed.  See seccomp(2), filter(2) BPF.

Per-boot constants (the guest's pid, the kernel's text) are slots the kernel
fills in before installing the filter.  Standard library only: setup.py runs
it through gentable."""

from __future__ import annotations

try:
    from . import hostcalls
except ImportError:  # setup.py imports this folder's modules by name, before libsubst is built
    import hostcalls

LD_ABS_W, JEQ, JGE, JA, RET, AND = 0x20, 0x15, 0x35, 0x05, 0x06, 0x54
ADD, ST, LDX_MEM, JEQ_X = 0x04, 0x02, 0x61, 0x1D
SUB_X, JGE_X, LD_MEM = 0x1C, 0x3D, 0x60
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
EPERM = 1
AUDIT_ARCH_X86_64 = 0xC000003E
X32_BIT = 0x40000000
SLOT_MARK = 0xFFFFFFFF        # replaced by a per-boot constant at boot
LEAF = 4                      # numbers compared linearly at a leaf of the search
NR_LIMIT = 512                # above every x86_64 system call number
# struct seccomp_data: nr, arch, instruction_pointer, args[6] (little-endian halves)
IP_LO, IP_HI = 8, 12


def _arg(index: int, high: bool = False) -> int:
    return 16 + 8 * index + (4 if high else 0)


class _Prog:
    """Instructions with symbolic jump targets, resolved at the end."""

    def __init__(self):
        self.ins: list[list] = []      # [code, jt, jf, k]; jt/jf/k may be labels
        self.labels: dict[str, int] = {}
        self.n = 0

    def label(self) -> str:
        self.n += 1
        return f"L{self.n}"

    def here(self, label: str) -> None:
        self.labels[label] = len(self.ins)

    def emit(self, code, jt=0, jf=0, k=0) -> None:
        self.ins.append([code, jt, jf, k])

    def resolve(self) -> list[tuple[int, int, int, int]]:
        out = []
        for i, (code, jt, jf, k) in enumerate(self.ins):
            if code == JA and isinstance(k, str):
                k = self.labels[k] - i - 1
                assert k >= 0, "BPF jumps only forward"
            if isinstance(jt, str):
                jt = self.labels[jt] - i - 1
            if isinstance(jf, str):
                jf = self.labels[jf] - i - 1
            assert 0 <= jt < 256 and 0 <= jf < 256, "conditional jump too far"
            out.append((code, jt, jf, k))
        return out


def _search(p: _Prog, nrs: list[int], target: dict[int, str]) -> None:
    """Code that jumps to target[nr] for nr in nrs, else falls to KILL."""
    if len(nrs) <= LEAF:
        for nr in nrs:
            p.emit(JEQ, 0, 1, nr)
            p.emit(JA, k=target[nr])
        p.emit(RET, k=RET_KILL_PROCESS)
        return
    mid = len(nrs) // 2
    right = p.label()
    p.emit(JGE, 0, 1, nrs[mid])
    p.emit(JA, k=right)
    _search(p, nrs[:mid], target)
    p.here(right)
    _search(p, nrs[mid:], target)


def _slot(p: "_Prog", slots: dict, v) -> int:
    """v, or SLOT_MARK with the next instruction recorded as v's slot."""
    if isinstance(v, str):
        slots.setdefault(v, []).append(len(p.ins))
        return SLOT_MARK
    return v


def _pin(p: "_Prog", slots: dict, pin: "hostcalls.Pin", fail: str) -> None:
    """Code that falls through when ``pin``'s own condition holds, else jumps to fail."""
    if not pin.wide:
        p.emit(LD_ABS_W, k=_arg(pin.index))
        if pin.mask != 0xFFFFFFFF:
            p.emit(AND, k=pin.mask)
        ok = p.label()
        for v in pin.values:
            p.emit(JEQ, ok, 0, _slot(p, slots, v))
        p.emit(JA, k=fail)
        p.here(ok)
        return
    assert pin.mask == 0xFFFFFFFF, "a wide pin compares the whole argument"
    if all(isinstance(v, hostcalls.BeforeIP) for v in pin.values):
        _before_ip(p, slots, pin, fail)
        return
    (v,) = pin.values
    if isinstance(v, hostcalls.BeforeIP):
        # arg + slot == instruction_pointer, in 64 bits: the low halves'
        # sum in M[0], the high half plus the carry in M[1].
        nocarry, cmp = p.label(), p.label()
        p.emit(LD_ABS_W, k=_arg(pin.index))
        p.emit(ADD, k=_slot(p, slots, v.slot))
        p.emit(ST, k=0)
        p.emit(JGE, nocarry, 0, _slot(p, slots, v.slot))
        p.emit(LD_ABS_W, k=_arg(pin.index, high=True))
        p.emit(ADD, k=1)
        p.emit(ST, k=1)
        p.emit(JA, k=cmp)
        p.here(nocarry)
        p.emit(LD_ABS_W, k=_arg(pin.index, high=True))
        p.emit(ST, k=1)
        p.here(cmp)
        for mem, half in ((0, IP_LO), (1, IP_HI)):
            p.emit(LDX_MEM, k=mem)
            p.emit(LD_ABS_W, k=half)
            p.emit(JEQ_X, 0, fail)
        return
    lo, hi = (v, 0) if isinstance(v, str) else (v & 0xFFFFFFFF, v >> 32)
    p.emit(LD_ABS_W, k=_arg(pin.index))
    p.emit(JEQ, 0, fail, _slot(p, slots, lo))
    p.emit(LD_ABS_W, k=_arg(pin.index, high=True))
    p.emit(JEQ, 0, fail, hi)


def _before_ip(p: "_Prog", slots: dict, pin: "hostcalls.Pin", fail: str) -> None:
    """Code that falls through when instruction_pointer - arg is one of the
    pin's BeforeIP slots, in 64 bits, else jumps to fail.  The difference is
    taken once and its low half compared with each slot: an openat2 pays one
    subtraction whichever of its sealed open_hows it names, where a pin per
    open_how made it add and compare again for each one before its own."""
    borrow, cmp, ok = p.label(), p.label(), p.label()
    p.emit(LD_ABS_W, k=_arg(pin.index))
    p.emit(ST, k=0)
    p.emit(LDX_MEM, k=0)
    p.emit(LD_ABS_W, k=IP_LO)
    p.emit(JGE_X, 0, borrow)                 # no borrow from the high half
    p.emit(SUB_X)
    p.emit(ST, k=1)                          # M[1]: the low half of ip - arg
    p.emit(LD_ABS_W, k=_arg(pin.index, high=True))
    p.emit(JA, k=cmp)
    p.here(borrow)
    p.emit(SUB_X)
    p.emit(ST, k=1)
    p.emit(LD_ABS_W, k=_arg(pin.index, high=True))
    p.emit(ADD, k=1)
    p.here(cmp)                              # A: the high half of arg plus the borrow,
    p.emit(ST, k=0)                          # which the ip's must equal: ip - arg < 2**32
    p.emit(LDX_MEM, k=0)
    p.emit(LD_ABS_W, k=IP_HI)
    p.emit(JEQ_X, 0, fail)
    p.emit(LD_MEM, k=1)
    for v in pin.values:
        p.emit(JEQ, ok, 0, _slot(p, slots, v.slot))
    p.emit(JA, k=fail)
    p.here(ok)


def compile_filter(allowed=None) -> tuple[list[tuple[int, int, int, int]], dict[str, list[int]]]:
    """(instructions, {per-boot constant: indexes of the instructions whose k
    is it}) for the host calls ``allowed`` (default: the guest kernel's)."""
    allowed = hostcalls.allowed() if allowed is None else allowed
    calls = {hostcalls.number(h.name): h for h in allowed}
    p = _Prog()
    p.emit(LD_ABS_W, k=4)                       # seccomp_data.arch
    p.emit(JEQ, 1, 0, AUDIT_ARCH_X86_64)
    p.emit(RET, k=RET_KILL_PROCESS)
    p.emit(LD_ABS_W, k=0)                       # seccomp_data.nr
    p.emit(JGE, 0, 1, X32_BIT)                  # x32 numbers are not ours
    p.emit(RET, k=RET_KILL_PROCESS)
    allow = p.label()
    target = {nr: (allow if not h.pins else p.label()) for nr, h in calls.items()}
    _search(p, sorted(calls), target)
    p.here(allow)
    p.emit(RET, k=RET_ALLOW)
    slots: dict[str, list[int]] = {}
    for nr, h in sorted(calls.items()):
        if not h.pins:
            continue
        p.here(target[nr])
        deny = h.pins[0].deny
        assert all(pin.deny == deny for pin in h.pins), f"{h.name}: allow and deny pins mixed"
        match, other = (RET_ERRNO | EPERM, RET_ALLOW) if deny else (RET_ALLOW, RET_ERRNO | EPERM)
        for pin in h.pins:
            nxt = p.label()
            for cond in (pin, *pin.also):
                _pin(p, slots, cond, nxt)
            p.emit(RET, k=match)
            p.here(nxt)
        p.emit(RET, k=other)
    assert set(slots) <= set(hostcalls.BOOT_SLOTS), slots
    return p.resolve(), slots


def cached(ins, arch: int = AUDIT_ARCH_X86_64) -> set[int]:
    """The system call numbers Linux's seccomp action cache (5.11+,
    kernel/seccomp.c) marks allowed for this filter: it runs the filter once
    per number with nothing known but the number and the architecture, and a
    number whose run ends in an allow without reading anything else is never
    filtered again.  Any other load (an argument, the instruction pointer)
    leaves the number to the BPF on every call; so does, here, any
    instruction this compiler does not emit (Linux knows a few more jumps:
    this errs towards "not cached")."""
    out = set()
    for nr in range(NR_LIMIT):
        a, pc = 0, 0
        while pc < len(ins):
            code, jt, jf, k = ins[pc]
            pc += 1
            if code == LD_ABS_W and k in (0, 4):
                a = nr if k == 0 else arch
            elif code == AND:
                a &= k
            elif code == JA:
                pc += k
            elif code in (JEQ, JGE):
                pc += jt if (a == k if code == JEQ else a >= k) else jf
            else:                       # a return, or what the cache cannot know
                if code == RET and k == RET_ALLOW:
                    out.add(nr)
                break
    return out


def _rows(ins) -> str:
    return ",\n".join(f"    {{0x{c:02x}, {jt}, {jf}, 0x{k:08x}}}" for c, jt, jf, k in ins)


_BPF = "struct ls_bpf { unsigned short code; unsigned char jt, jf; unsigned int k; };\n"


def c_header() -> str:
    """``seccomp_filter.h``: the filters' declarations, the same for every
    allow-list (the kernel's archive is compiled against it once)."""
    names = ", ".join(f"LS_SLOT_{n}" for n in hostcalls.BOOT_SLOTS)
    return (
        "/* generated by libsubst/kernel/seccomp.py from libsubst/kernel/hostcalls.py"
        " -- do not edit */\n"
        "#ifndef LIBSUBST_SECCOMP_FILTER_H\n#define LIBSUBST_SECCOMP_FILTER_H\n"
        + _BPF +
        "/* The guest kernel's filter (writable: the kernel fills in the per-boot\n"
        " * constants of hostcalls.BOOT_SLOTS at the instructions ls_seccomp_slots names). */\n"
        "extern struct ls_bpf ls_seccomp_filter[];\n"
        "extern const unsigned short ls_seccomp_len;\n"
        f"enum ls_seccomp_slot {{ {names}, LS_NSLOT_KINDS }};\n"
        "struct ls_seccomp_slot_at { unsigned short index; unsigned short slot; };\n"
        "extern const struct ls_seccomp_slot_at ls_seccomp_slots[];\n"
        "extern const unsigned short ls_seccomp_nslots;\n"
        "/* The relay's own filter (hostcalls.RELAY). */\n"
        "extern const struct ls_bpf ls_relay_filter[];\n"
        "extern const unsigned short ls_relay_filter_len;\n"
        "#endif\n")


def c_source(allowed=None) -> str:
    """``seccomp_filter.c``: the filter for the host calls ``allowed``
    (default: every one the full kernel may make) and the relay's."""
    ins, slots = compile_filter(allowed)
    relay, relay_slots = compile_filter(hostcalls.RELAY)
    assert not relay_slots, "the relay's filter has no per-boot constants"
    where = ", ".join(f"{{{i}, LS_SLOT_{n}}}" for n in hostcalls.BOOT_SLOTS for i in slots.get(n, ()))
    nslots = sum(map(len, slots.values()))
    return (
        "/* generated by libsubst/kernel/seccomp.py from libsubst/kernel/hostcalls.py"
        " -- do not edit */\n"
        '#include "seccomp_filter.h"\n'
        f"struct ls_bpf ls_seccomp_filter[{len(ins)}] = {{\n{_rows(ins)}\n}};\n"
        f"const unsigned short ls_seccomp_len = {len(ins)};\n"
        f"const struct ls_seccomp_slot_at ls_seccomp_slots[{max(nslots, 1)}] = {{{where}}};\n"
        f"const unsigned short ls_seccomp_nslots = {nslots};\n"
        f"const struct ls_bpf ls_relay_filter[{len(relay)}] = {{\n{_rows(relay)}\n}};\n"
        f"const unsigned short ls_relay_filter_len = {len(relay)};\n")


def container_baseline(refusals_allowed: bool = False) -> bytes:
    """The guest's filter as a native program can run under it, as struct
    sock_filter bytes: the same instructions, so the same length and the same
    search, with the per-boot constants zero and every kill an allow (the
    program's own start-up and exit calls are not the guest kernel's).  What
    a host call costs under it is the floor any seccomp-confined process,
    a container's included, pays (`libsubst bench syscalls`).
    refusals_allowed: a pin's EPERM an allow too, after the same comparisons
    (the host floors' openat2, whose open_how is not the kernel's sealed one:
    benchmarks/host_floors.py)."""
    import struct
    ins, slots = compile_filter()
    zero = {i for where in slots.values() for i in where}
    out = []
    for i, (code, jt, jf, k) in enumerate(ins):
        if code == RET and (k == RET_KILL_PROCESS or (refusals_allowed and k == RET_ERRNO | EPERM)):
            k = RET_ALLOW
        out.append(struct.pack("<HBBI", code, jt, jf, 0 if i in zero else k))
    return b"".join(out)
