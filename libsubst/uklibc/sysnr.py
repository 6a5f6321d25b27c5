"""Which syscall a site makes: the values %eax may hold when its ``syscall`` runs.

The search walks every path into the site backwards — fall-through and
direct jumps — following the number through register copies (musl: ``mov
$0xca,%r8d; ...; mov %r8,%rax``), partial writes (musl's clone: ``xor
%eax,%eax; mov $56,%al``) and calls that keep callee-saved registers, until
each path has set the low 32 bits the kernel reads (``do_syscall_64`` takes
the number as an int).  A path that reaches an address entered from
somewhere unknown (a function start, an indirect target), a load from
memory, or the search budget makes the number unknown.

Because a mis-decoded byte could hide a ``mov $56,%eax``, a site whose
number is not known on every path gets a second opinion that does not rely
on decoding: if an excluded number is loaded (any ``mov $n,<reg>``
encoding) in the 64 bytes before it, the site stays on the trap path.
"""

from __future__ import annotations

import capstone
from capstone import x86 as cx

from . import stub
from .decode import FALLS_THROUGH, Code, Disassembly

LOOKBACK_BUDGET = 96    # instructions visited to find one syscall's number
_LOW32 = 0xFFFFFFFF


def numbers(dis: Disassembly, code: Code, s: int, start: tuple[int, int, int] | None = None,
            at_entry: list | None = None, budget: int = LOOKBACK_BUDGET,
            stack: bool = False) -> tuple[set[int], bool]:
    """(values %eax may hold when instruction ``s`` runs, whether some path leaves it unknown).

    ``start``: follow (register, mask, value) instead of %eax with nothing
    known yet; ``budget``: instructions visited at most; ``stack``: follow a
    number reloaded from a stack slot (``mov 8(%rsp),%rax``) to the store
    that spilled it, where %rsp stays put between them.  ``at_entry``: collects why a path left the number unknown,
    for a caller that knows more about the code (``kernel.specialize``):
    (address, register, mask, value) where the path starts, at a function
    entry or at an instruction nothing jumps or falls to; None for any other
    cause (an instruction not followed, the budget)."""
    found: set[int] = set()
    unknown = False
    seen: set[tuple[int, int, int]] = set()
    why = at_entry if at_entry is not None else []
    # (instruction to walk into, register, mask, value)
    todo = [(s, *(start or (cx.X86_REG_RAX, 0, 0)))]
    while todo:
        k, fam, mask, value = todo.pop()
        addr = code.addrs[k]
        if (addr, fam, mask) in seen:
            continue
        seen.add((addr, fam, mask))
        preds = []
        if k > 0 and code.flags[k - 1] & FALLS_THROUGH and code.end_of(k - 1) == addr:
            preds.append(k - 1)
        for a in dis.preds_of(addr):
            j = code.index(a)
            if j is None:
                unknown = True
                why.append(None)
            else:
                preds.append(j)
        if dis.is_entry(addr) or not preds:
            unknown = True
            why.append((addr, fam, mask, value))
        for j in preds:
            budget -= 1
            if budget < 0:
                why.append(None)
                return found, True
            insn = dis.detail(code, j)
            step = _track(insn, fam, mask, value, stack) if insn else None
            if step is None:
                unknown = True
                why.append(None)
            elif step[1] == _LOW32:
                found.add(step[2])
            else:
                todo.append((j, *step))
    return found, unknown


def excluded_loaded_before(code: Code, addr: int, span: int = 64) -> list[int]:
    """Excluded numbers some ``mov $n,<reg>`` loads in the ``span`` bytes before ``addr``."""
    raw = code.data[max(addr - code.base - span, 0):addr - code.base]
    return [n for n, pats in _EXCLUDED_LOADS.items() if any(p in raw for p in pats)]


def _load_patterns() -> dict[int, list[bytes]]:
    """Encodings of ``mov $n,<reg>`` for each excluded number n (8, 32 and 64-bit moves)."""
    out: dict[int, list[bytes]] = {}
    for n in stub.EXCLUDED_SYSCALLS:
        imm32 = n.to_bytes(4, "little")
        pats = []
        for r in range(8):
            pats += [bytes([0xB8 + r]) + imm32, bytes([0x41, 0xB8 + r]) + imm32,
                     bytes([0x48, 0xC7, 0xC0 + r]) + imm32, bytes([0x49, 0xC7, 0xC0 + r]) + imm32]
        if n < 256:
            pats.append(bytes([0xB0, n]))          # mov $n,%al
        out[n] = pats
    return out


_EXCLUDED_LOADS = _load_patterns()


def _family_table() -> dict[int, tuple[int, int]]:
    """capstone register id -> (its 64-bit register's id, the bits of it the name covers)."""
    names = [("rax", "eax", "ax", "al", "ah"), ("rbx", "ebx", "bx", "bl", "bh"),
             ("rcx", "ecx", "cx", "cl", "ch"), ("rdx", "edx", "dx", "dl", "dh"),
             ("rsi", "esi", "si", "sil"), ("rdi", "edi", "di", "dil"),
             ("rbp", "ebp", "bp", "bpl"), ("rsp", "esp", "sp", "spl")]
    names += [(f"r{n}", f"r{n}d", f"r{n}w", f"r{n}b") for n in range(8, 16)]
    parts = (0xFFFFFFFFFFFFFFFF, _LOW32, 0xFFFF, 0xFF, 0xFF00)
    table = {}
    for group in names:
        full = getattr(cx, "X86_REG_" + group[0].upper())
        for name, bits in zip(group, parts):
            table[getattr(cx, "X86_REG_" + name.upper())] = (full, bits)
    return table


_FAMILY = _family_table()
# Registers a call may change (psABI 3.2.1): the number cannot live in them across one.
_CALL_CLOBBERED = frozenset(getattr(cx, "X86_REG_" + r) for r in
                            ("RAX", "RCX", "RDX", "RSI", "RDI", "R8", "R9", "R10", "R11"))
_SYSCALL_CLOBBERED = frozenset((cx.X86_REG_RAX, cx.X86_REG_RCX, cx.X86_REG_R11))


def _rsp_slot(op) -> int | None:
    """The displacement of a ``disp(%rsp)`` operand of at least 4 bytes, else None."""
    if op.type == cx.X86_OP_MEM and op.mem.base == cx.X86_REG_RSP and op.mem.index == 0 \
            and op.mem.segment == 0 and op.size >= 4:
        return op.mem.disp
    return None


def _track_slot(insn, slot: tuple, mask: int, value: int):
    """``_track`` for a number in the stack slot ``("rsp", disp)``: found at
    the store that wrote it; lost at anything that moves %rsp, calls, or
    writes memory elsewhere (it might be that slot through a pointer)."""
    _, written = insn.regs_access()
    if insn.id == cx.X86_INS_CALL or cx.X86_REG_RSP in written:
        return None
    ops = insn.operands
    if insn.id == cx.X86_INS_MOV and len(ops) == 2 and _rsp_slot(ops[0]) == slot[1] \
            and ops[1].type == cx.X86_OP_REG and ops[1].reg in _FAMILY \
            and _FAMILY[ops[1].reg][1] & _LOW32 == _LOW32:
        return _FAMILY[ops[1].reg][0], mask, value
    if any(op.type == cx.X86_OP_MEM and op.access & capstone.CS_AC_WRITE for op in ops):
        return None
    return slot, mask, value


def _track(insn, fam, mask: int, value: int, stack: bool = False):
    """Step the backward search over ``insn``.

    The number's low 32 bits are ``value`` where ``mask`` is set, and still
    to be found in register ``fam`` (or, with ``stack``, the stack slot
    ``("rsp", disp)``) elsewhere.  Returns None (not known statically),
    ``(fam, _LOW32, value)`` (fully known) or the new ``(fam, mask, value)``."""
    if isinstance(fam, tuple):
        return _track_slot(insn, fam, mask, value)
    if insn.id == cx.X86_INS_CALL:
        return None if fam in _CALL_CLOBBERED else (fam, mask, value)
    if insn.id == cx.X86_INS_SYSCALL:
        return None if fam in _SYSCALL_CLOBBERED else (fam, mask, value)
    _, written = insn.regs_access()
    hits = [_FAMILY[r][1] for r in written if r in _FAMILY and _FAMILY[r][0] == fam]
    if not hits:
        return fam, mask, value
    ops = insn.operands
    if len(ops) != 2 or ops[0].type != cx.X86_OP_REG or ops[0].reg not in _FAMILY \
            or _FAMILY[ops[0].reg][0] != fam or len(hits) != 1:
        return None
    bits = _FAMILY[ops[0].reg][1] & _LOW32
    if insn.id in (cx.X86_INS_MOV, cx.X86_INS_MOVABS) and ops[1].type == cx.X86_OP_IMM:
        const = ops[1].imm
    elif insn.id in (cx.X86_INS_XOR, cx.X86_INS_SUB) and ops[1].type == cx.X86_OP_REG \
            and ops[1].reg == ops[0].reg:
        const = 0
    elif insn.id == cx.X86_INS_MOV and ops[1].type == cx.X86_OP_REG and bits == _LOW32 \
            and ops[1].reg in _FAMILY and _FAMILY[ops[1].reg][1] & _LOW32 == _LOW32:
        return _FAMILY[ops[1].reg][0], mask, value          # a copy: follow the source
    elif stack and insn.id == cx.X86_INS_MOV and bits == _LOW32 and mask == 0 \
            and _rsp_slot(ops[1]) is not None:
        return ("rsp", _rsp_slot(ops[1])), mask, value      # a reload: follow the slot
    else:
        return None
    if bits == 0xFF00:
        const <<= 8
    value |= const & bits & ~mask
    mask |= bits
    return (fam, _LOW32, value) if mask & _LOW32 == _LOW32 else (fam, mask, value)
