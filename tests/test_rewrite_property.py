"""Property test of the rewriter: generated instruction sequences around
`syscall` sites are rewritten, run in the guest, and give the same register
and memory results as the same program run natively, and as on the trap
path."""

import subprocess

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import run_guest, run_native

# Calls whose results do not depend on which run makes them.
CALLS = [
    ("getuid", 102, []),
    ("umask", 95, ["$022"]),
    ("dup", 32, ["$-1"]),
    ("write", 1, ["$-1", "buf(%rip)", "$1"]),   # EBADF
    ("lseek", 8, ["$-1", "$0", "$0"]),          # EBADF
    ("getcwd", 79, ["buf(%rip)", "$64"]),       # fills memory
]
ARG_REGS = ["%rdi", "%rsi", "%rdx"]

# Code placed right before the syscall (after the number is in %eax) or
# right after it: position-independent filler, rip-relative loads and
# stores, stack use below %rsp (the red zone), flag-setting instructions.
BEFORE = [
    "",
    "mov %rdi, %r10",
    "mov data(%rip), %r9",
    "lea buf(%rip), %r8",
    "add $1, %r11",
    "movq $7, -8(%rsp)",
    "nop",
]
AFTER = [
    "",
    "mov %rax, data2(%rip)",
    "mov data(%rip), %r9",
    "add $3, %r9",
    "mov -8(%rsp), %r8",
    "test %rax, %rax",
]


@st.composite
def site(draw):
    name, nr, args = draw(st.sampled_from(CALLS))
    return {
        "nr": nr,
        "args": args,
        "before": draw(st.sampled_from(BEFORE)),
        "after": draw(st.sampled_from(AFTER)),
        # a branch target exactly at the syscall: that window must not be used
        "target": draw(st.booleans()),
        # the number loaded into %eax far from the syscall (unknown statically)
        "via_reg": draw(st.booleans()),
    }


def function_asm(i, s):
    lines = [f".globl f{i}", f".type f{i}, @function", f"f{i}:", "push %rbx",
             "movq $7, -8(%rsp)"]
    # Known values in every register the ABI keeps, then the arguments.
    for k, reg in enumerate(["%rdi", "%rsi", "%rdx", "%r10", "%r8", "%r9"]):
        lines.append(f"mov ${0x1111 * (k + 1)}, {reg}")
    for reg, a in zip(ARG_REGS, s["args"]):
        lines.append(f"lea {a}, {reg}" if "(%rip)" in a else f"mov {a}, {reg}")
    if s["via_reg"]:
        lines += [f"mov ${s['nr']}, %ebx", "mov %rbx, %rax"]
    else:
        lines.append(f"mov ${s['nr']}, %eax")
    if s["target"]:
        lines += ["jmp 1f", "ud2"]
    if s["before"]:
        lines.append(s["before"])
    if s["target"]:
        lines.append("1:")
    lines.append("syscall")
    if s["after"]:
        lines.append(s["after"])
    # Everything the syscall ABI keeps, for main to print: CF first.
    lines += ["setc %cl", "movzbl %cl, %ecx", "mov %rcx, out+56(%rip)"]
    for k, reg in enumerate(["%rax", "%rdi", "%rsi", "%rdx", "%r8", "%r9", "%r10"]):
        lines.append(f"mov {reg}, out+{8 * k}(%rip)")
    # Sized, as compilers and assemblers' macros make functions: bytes no
    # FDE or function symbol covers are not known to be code (stretch.known_code).
    lines += ["pop %rbx", "ret", f".size f{i}, .-f{i}"]
    return "\n".join("    " + l if not l.endswith(":") else l for l in lines)


MAIN_C = r"""
#include <stdio.h>
extern long %s;
extern char buf[64];
extern long data2;
extern long out[8];
static const char *const names[8] = {"rax", "rdi", "rsi", "rdx", "r8", "r9", "r10", "CF"};
int main(void) {
    long (*fs[])(void) = { %s };
    for (unsigned i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        fs[i]();
        printf("f%%u", i);
        for (int k = 0; k < 8; k++) {
            long d = out[k] - (long)buf;     /* addresses differ per run: print offsets */
            if (d > -65536 && d < 65536)
                printf(" %%s=buf%%+ld", names[k], d);
            else
                printf(" %%s=%%ld", names[k], out[k]);
        }
        printf(" buf=%%s data2=%%ld\n", buf, data2);
    }
    return 0;
}
"""


def build(tmp_path, sites):
    asm = [".data", "data: .quad 0x1234", ".globl data2", "data2: .quad 0", ".globl buf",
           "buf: .zero 64", ".globl out", "out: .zero 64", ".text"]
    asm += [function_asm(i, s) for i, s in enumerate(sites)]
    (tmp_path / "sites.S").write_text("\n".join(asm) + "\n.section .note.GNU-stack,\"\",@progbits\n")
    names = [f"f{i}" for i in range(len(sites))]
    (tmp_path / "main.c").write_text(MAIN_C % (", ".join(f"{n}(void)" for n in names),
                                               ", ".join(names)))
    exe = tmp_path / "prog"
    subprocess.run(["gcc", "-O1", "-o", exe, tmp_path / "main.c", tmp_path / "sites.S"], check=True)
    return exe


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(site(), min_size=1, max_size=6))
def test_rewritten_sites_behave_like_native_and_the_trap_path(tmp_path_factory, sites):
    tmp_path = tmp_path_factory.mktemp("sites")
    exe = build(tmp_path, sites)
    native = run_native([str(exe)], tmp_path)
    assert native.returncode == 0 and native.stdout.count(b"\n") == len(sites), native
    trap = run_guest(["--no-subst", str(exe)], tmp_path)
    assert (trap.stdout, trap.returncode) == (native.stdout, 0), trap.stderr
    fast_trace = tmp_path / "trace"
    fast = run_guest(["--trace-file", str(fast_trace), str(exe)], tmp_path)
    assert (fast.stdout, fast.returncode) == (native.stdout, 0), fast.stderr
    # The classic `mov $nr,%eax; syscall` with no branch target at the
    # syscall is always rewritten: such a site's call is a fastcall.
    text = fast_trace.read_text()
    for s in sites:
        if not s["target"] and not s["via_reg"] and not s["before"] and s["nr"] == 102:
            assert "fast getuid()" in text
