"""Linux signal numbers <-> gdb's remote-protocol signal numbers (gdb's
``enum gdb_signal``, include/gdb/signals.def), which differ above 6."""

from __future__ import annotations

import signal

# gdb numbers for the host's signals, by name.
_GDB = {"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
        "SIGFPE": 8, "SIGKILL": 9, "SIGBUS": 10, "SIGSEGV": 11, "SIGSYS": 12, "SIGPIPE": 13,
        "SIGALRM": 14, "SIGTERM": 15, "SIGURG": 16, "SIGSTOP": 17, "SIGTSTP": 18,
        "SIGCONT": 19, "SIGCHLD": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGIO": 23,
        "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28,
        "SIGUSR1": 30, "SIGUSR2": 31, "SIGPWR": 32}
# Real-time signals: gdb numbers 33..63 as 45..75, and 32 and 64 as 77 and 78.
_RT33 = 45
_TO_GDB = {getattr(signal, n): g for n, g in _GDB.items() if hasattr(signal, n)}
_TO_HOST = {g: h for h, g in _TO_GDB.items()}


def to_gdb(sig: int) -> int:
    if sig in _TO_GDB:
        return _TO_GDB[sig]
    if 33 <= sig <= 63:
        return _RT33 + sig - 33
    return {32: 77, 64: 78}.get(sig, 143)       # 143: GDB_SIGNAL_UNKNOWN


def to_host(gsig: int) -> int:
    if gsig in _TO_HOST:
        return _TO_HOST[gsig]
    if _RT33 <= gsig <= _RT33 + 30:
        return gsig - _RT33 + 33
    return {77: 32, 78: 64}.get(gsig, 0)
