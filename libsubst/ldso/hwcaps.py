"""The CPU's part in ld.so's search: ``$PLATFORM`` and the subdirectories
of each search directory it tries first (``glibc-hwcaps`` ISA levels, then
the legacy hwcaps scheme), as glibc 2.36 computes them on x86-64 from the
CPU the guest's ld.so runs on (this one)."""

import functools


@functools.cache
def _cpu():
    """(vendor, flags) from /proc/cpuinfo: the guest's ld.so runs on this CPU."""
    vendor, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "vendor_id":
                    vendor = val.strip()
                elif key == "flags":
                    flags = set(val.split())
                    break
    except OSError:
        pass
    return vendor, flags


def platform():
    """``$PLATFORM``: AT_PLATFORM, which glibc 2.36 overrides on Intel CPUs.

    See sysdeps/x86/cpu-features.c ``init_cpu_features``.
    """
    vendor, f = _cpu()
    if vendor == "GenuineIntel":
        if "avx512cd" in f and {"avx512er", "avx512pf"} <= f:
            return "xeon_phi"
        if {"avx2", "fma", "bmi1", "bmi2", "abm", "movbe", "popcnt"} <= f:
            return "haswell"
    return "x86_64"


# x86-64 ISA levels (sysdeps/x86/get-isa-level.h), highest first.
_LEVELS = (
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
    ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}),
    ("x86-64-v2", {"cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"}),
)


@functools.cache
def hwcaps_levels():
    """Supported ``glibc-hwcaps`` subdirectory names, in ld.so's priority order."""
    _, f = _cpu()
    supported = []
    # A level counts only if every lower level is supported too.
    for name, need in reversed(_LEVELS):
        if not need <= f:
            break
        supported.insert(0, name)
    return tuple(supported)


@functools.cache
def subdirs():
    """Subdirectories ld.so tries in every search directory, '' (itself) last.

    glibc-hwcaps first, then the legacy hwcaps scheme of glibc 2.36
    (elf/dl-hwcaps.c): every combination of the hwcap names, the platform
    and "tls", most specific first.
    """
    vendor, f = _cpu()
    legacy = ["x86_64"]
    if (vendor == "GenuineIntel" and "avx512cd" in f and "avx512er" not in f
            and {"avx512bw", "avx512dq", "avx512vl"} <= f):
        legacy.append("avx512_1")
    legacy += [platform(), "tls"]
    combos = []
    for mask in range(2 ** len(legacy) - 1, -1, -1):
        combos.append("/".join(legacy[i] for i in reversed(range(len(legacy))) if mask >> i & 1))
    return tuple(f"glibc-hwcaps/{lv}" for lv in hwcaps_levels()) + tuple(combos)
