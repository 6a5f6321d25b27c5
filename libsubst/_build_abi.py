"""cffi (out-of-line ABI mode) description of the C contracts in
c_src/include/libsubst: the package build turns it into libsubst._abi, a
pure-Python module with the structs and constants, cheap to import."""

import os
import re

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
HEADERS = ["bootinfo.h", "exec.h", "fastcall.h", "plancache.h", "report.h", "signals.h",
           "trace.h"]


def _cdef_text(path):
    """Keep what cffi's cdef reads: struct declarations and integer #defines."""
    out = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#"):
            m = re.match(r"#define\s+(LS_\w+)\s+(0x[0-9a-fA-F]+|\d+)\s*(/\*.*)?$", line)
            if m:
                out.append(f"#define {m.group(1)} {m.group(2)}\n")
            continue
        out.append(line)
    return "".join(out)


ffibuilder = cffi.FFI()
for _h in HEADERS:
    ffibuilder.cdef(_cdef_text(os.path.join(HERE, "..", "c_src", "include", "libsubst", _h)))
ffibuilder.set_source("libsubst._abi", None)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.dirname(HERE))
