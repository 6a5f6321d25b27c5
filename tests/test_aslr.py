"""Address space layout randomisation, compared with native runs: a PIE
program's code and its break move from run to run as Linux's binfmt_elf
moves them, stay put under the personality ADDR_NO_RANDOMIZE (setarch -R)
at the addresses Linux uses then, and a forked child keeps its parent's.
tests/c/aslr.c prints where main and sbrk(0) are, in it and in a child."""

import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import LIBSUBST, build_c, run_guest, run_native

RUNS = 6
ELF_ET_DYN_BASE = 0x555555554000       # x86-64's, where Linux puts a PIE with ASLR off
MMAP_RND = 1 << (28 + 12)              # mmap_rnd_bits 28 (the guest cannot read the host's)


@pytest.fixture(scope="module")
def probe():
    """tests/c/aslr.c, built outside /tmp (a program there is an image file)."""
    top = tempfile.mkdtemp(prefix="libsubst-aslr-", dir="/var/tmp")
    yield build_c("aslr", top)
    shutil.rmtree(top, ignore_errors=True)


def layout(result):
    """(main, brk) of a run, after checking its fork: the child's main is
    the parent's, its break the parent's just before the fork."""
    assert result.returncode == 0 and not result.stderr, result
    m = re.fullmatch(rb"main (0x\w+) brk (0x\w+)\nfork brk (0x\w+)\n"
                     rb"child main (0x\w+) brk (0x\w+)\n", result.stdout)
    assert m, result.stdout
    main, brk, fork_brk, child_main, child_brk = (int(v, 16) for v in m.groups())
    assert (child_main, child_brk) == (main, fork_brk)
    return main, brk


def test_program_and_break_move_from_run_to_run(probe, tmp_path):
    """With the host's randomize_va_space 2 (this host's; a chance of
    about 5 in 2^28 that six runs agree by luck)."""
    with open("/proc/sys/kernel/randomize_va_space") as f:
        if f.read().strip() != "2":
            pytest.skip("the host's randomize_va_space is not 2")
    for runner in (run_native, run_guest):
        runs = [layout(runner([probe], tmp_path)) for _ in range(RUNS)]
        mains, brks = {m for m, _ in runs}, {b for _, b in runs}
        assert len(mains) >= 2 and len(brks) >= 2, (runner.__name__, runs)
        for main, brk in runs:
            # main in the first 1 TiB above ELF_ET_DYN_BASE, the break above it
            assert ELF_ET_DYN_BASE <= main < ELF_ET_DYN_BASE + MMAP_RND, hex(main)
            assert main < brk < main + (1 << 31), (hex(main), hex(brk))


def test_setarch_R_keeps_linux_fixed_layout(probe, tmp_path):
    """ADDR_NO_RANDOMIZE from the caller (the run inherits its personality)
    and from a setarch run inside the guest: the addresses a native run has,
    the program at ELF_ET_DYN_BASE, every time."""
    native = run_native(["setarch", "-R", probe], tmp_path)
    main, _ = layout(native)
    assert ELF_ET_DYN_BASE <= main < ELF_ET_DYN_BASE + (1 << 20), hex(main)
    for _ in range(2):
        assert run_native(["setarch", "-R", probe], tmp_path).stdout == native.stdout
        inherited = run_native(["setarch", "-R", *LIBSUBST, "run", probe], tmp_path)
        assert inherited.stdout == native.stdout, inherited
        inside = run_guest(["--add", probe, "setarch", "-R", probe], tmp_path)
        assert inside.stdout == native.stdout, inside


def test_a_large_p_align_aligns_the_program(tmp_path):
    """PT_LOADs aligned to 2 MiB (max-page-size): Linux aligns the program's
    base to it, randomised or not (0x555555400000 under setarch -R)."""
    exe = build_c("aslr", str(tmp_path), "-Wl,-z,max-page-size=0x200000")
    native = run_native(["setarch", "-R", exe], tmp_path)
    main, _ = layout(native)
    nm = subprocess.run(["nm", exe], capture_output=True, text=True, check=True).stdout
    (offset,) = (int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(" T main"))
    assert main - offset == 0x555555400000, hex(main)
    guest = run_native(["setarch", "-R", *LIBSUBST, "run", exe], tmp_path)
    assert guest.stdout == native.stdout, guest
    for runner in (run_native, run_guest):
        offsets = {layout(runner([exe], tmp_path))[0] & ((1 << 21) - 1) for _ in range(3)}
        assert offsets == {main & ((1 << 21) - 1)}, (runner.__name__, offsets)


def test_a_static_pie_break_is_linux_s(tmp_path):
    """A static PIE (no interpreter) goes where mmap puts it, and its break
    at ELF_ET_DYN_BASE's page, randomised above it or not (setarch -R) —
    where the host's mmap puts the program differs (the guest kernel is
    mapped there first), so only the break compares."""
    exe = build_c("aslr", str(tmp_path), "-static-pie")

    def brk(result):
        return layout(result)[1]
    native = brk(run_native(["setarch", "-R", exe], tmp_path))
    assert native >> 20 == 0x555555555000 >> 20, hex(native)
    assert brk(run_native(["setarch", "-R", *LIBSUBST, "run", exe], tmp_path)) == native
    for runner in (run_native, run_guest):
        brks = {brk(runner([exe], tmp_path)) for _ in range(RUNS)}
        assert len(brks) >= 2 and all(native <= b < native + (1 << 31) for b in brks), \
            (runner.__name__, [hex(b) for b in brks])


@pytest.mark.parametrize("align", [0x10000, 0x200000])
def test_a_program_without_interpreter_is_aligned_to_its_p_align(tmp_path, align):
    """A static PIE (tests/c/load_base.c: ld.so run as a program goes the
    same way) whose PT_LOADs ask for 64 KiB or 2 MiB: Linux maps it where
    mmap puts it, its base aligned down to that, randomised or not.  (64
    KiB: a span under 2 MiB, which the host's mmap does not align itself.)"""
    exe = build_c("load_base", str(tmp_path), "-nostdlib", "-static-pie", "-fno-stack-protector",
                  f"-Wl,-z,max-page-size={align:#x}")

    def base(result):
        assert result.returncode == 0 and not result.stderr, result
        m = re.fullmatch(rb"base (0x\w+)\n", result.stdout)
        assert m, result.stdout
        return int(m.group(1), 16)
    for runner in (run_native, run_guest):
        bases = [base(runner([exe], tmp_path)) for _ in range(3)]
        assert all(b % align == 0 for b in bases), (runner.__name__, [hex(b) for b in bases])
    for argv in (["setarch", "-R", exe], ["setarch", "-R", *LIBSUBST, "run", exe]):
        b = base(run_native(argv, tmp_path))
        assert b % align == 0, (argv, hex(b))
