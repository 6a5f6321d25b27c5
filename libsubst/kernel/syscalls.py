"""The x86-64 Linux system call table, as data: the one source of truth.

Every number in ``<asm/unistd_64.h>`` (Linux 6.1 UAPI headers, Debian 12) has
one row below: its number, its name, the kind of each of its register
arguments and a note.  ``LEVELS`` says how the guest kernel serves it:

``host``
    the guest kernel passes the call to the host unchanged;
``kernel``
    the guest kernel implements it, in a C handler named ``sys_<name>``;
``enosys``
    the guest kernel answers ``-ENOSYS``; the call is counted, traced and
    reported at exit (gVisor's ``ErrorWithEvent``).

From this table ``libsubst.kernel.gentable`` generates the C dispatch table
(``syscall_table.h``/``.c``), the README's support table and the data behind
``libsubst analyze``.  Nothing here reads the C headers at run time.

Argument kinds (``ARG_KINDS``) tell the strace-style tracer how to print a
register; there is one kind per argument the kernel's ``SYSCALL_DEFINEn``
takes, so ``len(args)`` is the ``n`` of its definition.  Sources: the man-2
pages, the kernel's ``SYSCALL_DEFINE``s and strace's ``linux/x86_64/syscallent.h``.

This module imports only the standard library: ``setup.py`` loads it (through
``gentable.py``) before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------
# Vocabulary.  The order of ARG_KINDS is the order of ``enum ls_argk`` in the
# generated C header; the order of the levels is ``enum ls_level``.
# --------------------------------------------------------------------------

ARG_KINDS: tuple[str, ...] = (
    "int",      # signed decimal
    "uint",     # unsigned decimal
    "hex",      # hexadecimal: flags, masks, opaque values
    "fd",       # a file descriptor
    "dirfd",    # a directory fd for *at() calls; -100 prints as AT_FDCWD
    "path",     # NUL-terminated string read from guest memory (paths, names)
    "buf_in",   # guest-written buffer whose length is the NEXT argument
    "buf_out",  # kernel-filled buffer whose length is the call's result
    "ptr",      # any other pointer
    "size",     # size_t
    "off",      # off_t / loff_t
    "sig",      # a signal number
    "pid",      # a pid / tid / pgid
    "mode",     # octal mode_t
    "oflags",   # open(2) flags: O_RDONLY|O_CLOEXEC...
    "prot",     # mmap(2) prot: PROT_READ|...
    "mflags",   # mmap(2) flags: MAP_PRIVATE|...
    "argv",     # a NULL-terminated array of strings: ["sh", "-c", ...]
    "envp",     # the same, shown by its count: 0x7ffd... /* 12 vars */
)

LEVEL_VALUES: tuple[str, ...] = ("enosys", "host", "kernel")

# Arguments that can carry the length of a preceding ``buf_in``.
_LENGTH_KINDS = frozenset({"size", "uint", "int"})

# ==========================================================================
# LEVELS — how the guest kernel serves each call.  EDIT HERE.
# A name missing from this dict is 'enosys'.  Checked at import against TABLE.
# ==========================================================================

HOST = "host"
KERNEL = "kernel"
ENOSYS = "enosys"

LEVELS: dict[str, str] = {
    # ---- passed to the host unchanged ------------------------------------
    # I/O on descriptors the host already holds
    "write": HOST, "pwrite64": HOST, "writev": HOST, "pwritev": HOST, "pwritev2": HOST,
    "pipe": HOST, "pipe2": HOST,
    "fsync": HOST, "fdatasync": HOST, "flock": HOST, "ftruncate": HOST,
    "tee": HOST,
    "fadvise64": HOST, "fallocate": HOST,
    # polling and event descriptors
    "poll": HOST, "select": HOST,
    "epoll_create": HOST, "epoll_create1": HOST, "epoll_ctl": HOST,
    "epoll_wait": HOST,
    "eventfd": HOST, "eventfd2": HOST,
    "timerfd_create": HOST, "timerfd_settime": HOST, "timerfd_gettime": HOST,
    # memory advice that does not change the mapping layout
    "msync": HOST, "mincore": HOST, "madvise": HOST, "membarrier": HOST,
    # time
    "nanosleep": HOST, "clock_nanosleep": HOST, "clock_gettime": HOST,
    "alarm": HOST, "setitimer": HOST, "getitimer": HOST,
    "timer_create": HOST, "timer_settime": HOST, "timer_gettime": HOST,
    "timer_getoverrun": HOST, "timer_delete": HOST, "pause": HOST,
    "rt_sigtimedwait": HOST, "rt_sigqueueinfo": HOST, "rt_tgsigqueueinfo": HOST,
    "signalfd": HOST, "signalfd4": HOST, "sched_setparam": HOST, "sched_setscheduler": HOST,
    "clock_getres": HOST, "gettimeofday": HOST, "time": HOST,
    # the clock's state read; setting it needs CAP_SYS_TIME over the host's
    # clock, which no user namespace has (EPERM, after Linux's own checks)
    "adjtimex": HOST, "clock_adjtime": HOST, "clock_settime": HOST, "settimeofday": HOST,
    # scheduling, threads, futexes
    "sched_yield": HOST, "futex": HOST, "getcpu": HOST, "rseq": HOST,
    "set_robust_list": HOST, "get_robust_list": HOST,
    "sched_getaffinity": HOST, "sched_setaffinity": HOST,
    "sched_getparam": HOST, "sched_getscheduler": HOST,
    "sched_get_priority_max": HOST, "sched_get_priority_min": HOST,
    "getpriority": HOST, "setpriority": HOST,
    # identity and accounting
    "gettid": HOST,
    "getuid": HOST, "geteuid": HOST, "getgid": HOST, "getegid": HOST,
    "getgroups": HOST, "getpgrp": HOST, "getpgid": HOST, "getsid": HOST,
    "setpgid": HOST, "getrusage": HOST, "times": HOST, "sysinfo": HOST,
    "umask": HOST, "capget": HOST,
    # identity changes act on the host process (the sandbox's user namespace bounds
    # them); the kernel's handlers keep the first process's parent-death signal
    "setuid": KERNEL, "setgid": KERNEL, "setreuid": KERNEL, "setregid": KERNEL,
    "setresuid": KERNEL, "setresgid": KERNEL, "getresuid": HOST, "getresgid": HOST,
    "setfsuid": KERNEL, "setfsgid": KERNEL, "setgroups": HOST, "setsid": HOST,
    "capset": HOST, "personality": HOST, "mlock": HOST, "munlock": HOST,
    "mlockall": HOST, "munlockall": HOST, "sched_rr_get_interval": HOST,
    # sockets
    "socketpair": HOST, "accept": HOST,
    "accept4": HOST, "listen": HOST, "shutdown": HOST,
    "sendto": HOST, "recvfrom": HOST,
    "setsockopt": HOST, "getsockopt": HOST,
    "getrandom": HOST,
    # System V and POSIX IPC: objects of the guest's own IPC namespace
    "shmget": HOST, "shmctl": HOST, "shmdt": HOST,
    "semget": HOST, "semop": HOST, "semtimedop": HOST, "semctl": HOST,
    "msgget": HOST, "msgsnd": HOST, "msgrcv": HOST, "msgctl": HOST,
    "mq_open": HOST, "mq_unlink": HOST, "mq_timedsend": HOST, "mq_timedreceive": HOST,
    "mq_notify": HOST, "mq_getsetattr": HOST,
    # more on descriptors and memory the host already holds
    "readahead": HOST, "sync_file_range": HOST, "syncfs": HOST, "sync": HOST,
    "mlock2": HOST, "ioprio_get": HOST, "ioprio_set": HOST,
    "sched_setattr": HOST, "sched_getattr": HOST,
    "inotify_init": HOST, "inotify_init1": HOST, "inotify_rm_watch": HOST,

    # ---- implemented by the guest kernel (C handler sys_<name>) ----------
    # descriptor table
    "open": KERNEL, "openat": KERNEL, "creat": KERNEL, "close": KERNEL,
    "close_range": KERNEL, "dup": KERNEL, "dup2": KERNEL, "dup3": KERNEL,
    "fcntl": KERNEL, "lseek": KERNEL, "getdents": KERNEL, "getdents64": KERNEL,
    # FIONBIO on an fd whose status flags the kernel keeps (fs/fd.c)
    "ioctl": KERNEL,
    # reads: a packed image's file is a window of the image file, so its fds
    # keep their own position (fs/read_write.c); any other fd goes straight
    # to the host after one array test
    "read": KERNEL, "pread64": KERNEL, "readv": KERNEL, "preadv": KERNEL,
    "preadv2": KERNEL, "sendfile": KERNEL, "copy_file_range": KERNEL, "splice": KERNEL,
    # metadata
    "stat": KERNEL, "fstat": KERNEL, "lstat": KERNEL, "newfstatat": KERNEL,
    "statx": KERNEL, "statfs": KERNEL, "fstatfs": KERNEL,
    "access": KERNEL, "faccessat": KERNEL, "faccessat2": KERNEL,
    "readlink": KERNEL, "readlinkat": KERNEL,
    "name_to_handle_at": KERNEL, "open_by_handle_at": KERNEL,
    # the file system name space
    "getcwd": KERNEL, "chdir": KERNEL, "fchdir": KERNEL, "chroot": KERNEL,
    "mkdir": KERNEL, "mkdirat": KERNEL, "rmdir": KERNEL,
    "unlink": KERNEL, "unlinkat": KERNEL,
    "rename": KERNEL, "renameat": KERNEL, "renameat2": KERNEL,
    "link": KERNEL, "linkat": KERNEL, "symlink": KERNEL, "symlinkat": KERNEL,
    "chmod": KERNEL, "fchmodat": KERNEL,
    "chown": KERNEL, "lchown": KERNEL, "fchownat": KERNEL,
    "utimensat": KERNEL, "futimesat": KERNEL, "utime": KERNEL, "utimes": KERNEL,
    "truncate": KERNEL, "fchmod": KERNEL, "fchown": KERNEL,
    "mknod": KERNEL, "mknodat": KERNEL, "inotify_add_watch": KERNEL,
    # mounts: answered as for a container's root without CAP_SYS_ADMIN over the host
    "mount": KERNEL, "umount2": KERNEL,
    # extended attributes (ls -l asks for them): by path, through the fs
    "getxattr": KERNEL, "lgetxattr": KERNEL, "fgetxattr": KERNEL,
    "setxattr": KERNEL, "lsetxattr": KERNEL, "fsetxattr": KERNEL,
    "listxattr": KERNEL, "llistxattr": KERNEL, "flistxattr": KERNEL,
    "removexattr": KERNEL, "lremovexattr": KERNEL, "fremovexattr": KERNEL,
    # address space
    "mmap": KERNEL, "munmap": KERNEL, "mprotect": KERNEL, "mremap": KERNEL,
    "brk": KERNEL, "shmat": KERNEL, "remap_file_pages": KERNEL,
    # processes
    "exit": KERNEL, "exit_group": KERNEL, "clone": KERNEL, "clone3": KERNEL,
    "execve": KERNEL, "execveat": KERNEL, "fork": KERNEL, "vfork": KERNEL,
    "set_tid_address": KERNEL, "arch_prctl": KERNEL,
    "getpid": KERNEL, "getppid": KERNEL, "kill": KERNEL, "tgkill": KERNEL,
    "tkill": KERNEL, "pidfd_send_signal": KERNEL, "memfd_create": KERNEL,
    # Unix socket addresses are paths of the guest's file system
    "connect": KERNEL, "bind": KERNEL, "getsockname": KERNEL, "getpeername": KERNEL,
    # the sockets a message carries are noted for /proc/net/unix (net/sendmsg.c)
    "sendmsg": KERNEL, "sendmmsg": KERNEL,
    # a directory fd a message brings is refused, as --preserve-fds refuses one (net/recvmsg.c)
    "recvmsg": KERNEL, "recvmmsg": KERNEL,
    # the netlink protocols the sandbox refuses answer as a Linux without them
    "socket": KERNEL,
    "prctl": KERNEL,
    "prlimit64": KERNEL, "getrlimit": KERNEL, "setrlimit": KERNEL,
    # signal state
    "rt_sigaction": KERNEL, "rt_sigprocmask": KERNEL, "rt_sigreturn": KERNEL,
    "sigaltstack": KERNEL,
    # waits under a mask of the guest's: SIGSYS kept unblocked (signal/waits.c)
    "rt_sigsuspend": KERNEL, "ppoll": KERNEL, "pselect6": KERNEL, "epoll_pwait": KERNEL,
    "epoll_pwait2": KERNEL,
    # ---- passed to the host, beside the guest kernel's process calls -------
    # (waiting, pidfds and pending signals need nothing of the guest kernel:
    # its pids are the pid namespace's own)
    "wait4": HOST, "waitid": HOST, "pidfd_open": HOST,
    "rt_sigpending": HOST,
    # the guest's own UTS namespace, owned by its user namespace: its root
    # names it, as a container's root does, and the host's name is untouched
    "uname": HOST, "sethostname": HOST, "setdomainname": HOST,
}

# ==========================================================================
# The table.  One row per syscall: (nr, name, argument kinds[, note]).
# Argument kinds are space-separated, in register order (rdi rsi rdx r10 r8 r9).
# Numbers 335..423 are reserved on x86-64 (kept in step with other arches).
# ==========================================================================

_ROWS: tuple[tuple, ...] = (
    # nr  name                      args
    (0,   "read",                   "fd buf_out size"),
    (1,   "write",                  "fd buf_in size"),
    (2,   "open",                   "path oflags mode"),
    (3,   "close",                  "fd"),
    (4,   "stat",                   "path ptr"),
    (5,   "fstat",                  "fd ptr"),
    (6,   "lstat",                  "path ptr"),
    (7,   "poll",                   "ptr uint int"),
    (8,   "lseek",                  "fd off int"),
    (9,   "mmap",                   "ptr size prot mflags fd off"),
    (10,  "mprotect",               "ptr size prot"),
    (11,  "munmap",                 "ptr size"),
    (12,  "brk",                    "ptr"),
    (13,  "rt_sigaction",           "sig ptr ptr size"),
    (14,  "rt_sigprocmask",         "int ptr ptr size"),
    (15,  "rt_sigreturn",           "", "takes no arguments: the frame is found from the stack pointer"),
    (16,  "ioctl",                  "fd hex hex"),
    (17,  "pread64",                "fd buf_out size off"),
    (18,  "pwrite64",               "fd buf_in size off"),
    (19,  "readv",                  "fd ptr int"),
    (20,  "writev",                 "fd ptr int"),
    (21,  "access",                 "path int"),
    (22,  "pipe",                   "ptr"),
    (23,  "select",                 "int ptr ptr ptr ptr"),
    (24,  "sched_yield",            ""),
    (25,  "mremap",                 "ptr size size hex ptr"),
    (26,  "msync",                  "ptr size hex"),
    (27,  "mincore",                "ptr size ptr"),
    (28,  "madvise",                "ptr size int"),
    (29,  "shmget",                 "int size hex"),
    (30,  "shmat",                  "int ptr hex"),
    (31,  "shmctl",                 "int int ptr"),
    (32,  "dup",                    "fd"),
    (33,  "dup2",                   "fd fd"),
    (34,  "pause",                  ""),
    (35,  "nanosleep",              "ptr ptr"),
    (36,  "getitimer",              "int ptr"),
    (37,  "alarm",                  "uint"),
    (38,  "setitimer",              "int ptr ptr"),
    (39,  "getpid",                 ""),
    (40,  "sendfile",               "fd fd ptr size"),
    (41,  "socket",                 "int hex int"),
    (42,  "connect",                "fd ptr uint"),
    (43,  "accept",                 "fd ptr ptr"),
    (44,  "sendto",                 "fd buf_in size hex ptr uint"),
    (45,  "recvfrom",               "fd buf_out size hex ptr ptr"),
    (46,  "sendmsg",                "fd ptr hex"),
    (47,  "recvmsg",                "fd ptr hex"),
    (48,  "shutdown",               "fd int"),
    (49,  "bind",                   "fd ptr uint"),
    (50,  "listen",                 "fd int"),
    (51,  "getsockname",            "fd ptr ptr"),
    (52,  "getpeername",            "fd ptr ptr"),
    (53,  "socketpair",             "int hex int ptr"),
    (54,  "setsockopt",             "fd int int ptr uint"),
    (55,  "getsockopt",             "fd int int ptr ptr"),
    (56,  "clone",                  "hex ptr ptr ptr ptr", "x86-64 order: flags, stack, parent_tid, child_tid, tls"),
    (57,  "fork",                   ""),
    (58,  "vfork",                  ""),
    (59,  "execve",                 "path argv envp"),
    (60,  "exit",                   "int"),
    (61,  "wait4",                  "pid ptr hex ptr"),
    (62,  "kill",                   "pid sig"),
    (63,  "uname",                  "ptr"),
    (64,  "semget",                 "int int hex"),
    (65,  "semop",                  "int ptr size"),
    (66,  "semctl",                 "int int int hex"),
    (67,  "shmdt",                  "ptr"),
    (68,  "msgget",                 "int hex"),
    (69,  "msgsnd",                 "int ptr size hex"),
    (70,  "msgrcv",                 "int ptr size int hex"),
    (71,  "msgctl",                 "int int ptr"),
    (72,  "fcntl",                  "fd int hex"),
    (73,  "flock",                  "fd int"),
    (74,  "fsync",                  "fd"),
    (75,  "fdatasync",              "fd"),
    (76,  "truncate",               "path off"),
    (77,  "ftruncate",              "fd off"),
    (78,  "getdents",               "fd buf_out uint", "legacy struct linux_dirent; glibc uses getdents64"),
    (79,  "getcwd",                 "buf_out size", "returns the length of the path including its NUL"),
    (80,  "chdir",                  "path"),
    (81,  "fchdir",                 "fd"),
    (82,  "rename",                 "path path"),
    (83,  "mkdir",                  "path mode"),
    (84,  "rmdir",                  "path"),
    (85,  "creat",                  "path mode"),
    (86,  "link",                   "path path"),
    (87,  "unlink",                 "path"),
    (88,  "symlink",                "path path", "arguments: target, linkpath"),
    (89,  "readlink",               "path buf_out size"),
    (90,  "chmod",                  "path mode"),
    (91,  "fchmod",                 "fd mode"),
    (92,  "chown",                  "path int int"),
    (93,  "fchown",                 "fd int int"),
    (94,  "lchown",                 "path int int"),
    (95,  "umask",                  "mode"),
    (96,  "gettimeofday",           "ptr ptr"),
    (97,  "getrlimit",              "int ptr"),
    (98,  "getrusage",              "int ptr"),
    (99,  "sysinfo",                "ptr"),
    (100, "times",                  "ptr"),
    (101, "ptrace",                 "int pid ptr ptr"),
    (102, "getuid",                 ""),
    (103, "syslog",                 "int ptr int"),
    (104, "getgid",                 ""),
    (105, "setuid",                 "uint"),
    (106, "setgid",                 "uint"),
    (107, "geteuid",                ""),
    (108, "getegid",                ""),
    (109, "setpgid",                "pid pid"),
    (110, "getppid",                ""),
    (111, "getpgrp",                ""),
    (112, "setsid",                 ""),
    (113, "setreuid",               "int int"),
    (114, "setregid",               "int int"),
    (115, "getgroups",              "int ptr"),
    (116, "setgroups",              "size ptr"),
    (117, "setresuid",              "int int int"),
    (118, "getresuid",              "ptr ptr ptr"),
    (119, "setresgid",              "int int int"),
    (120, "getresgid",              "ptr ptr ptr"),
    (121, "getpgid",                "pid"),
    (122, "setfsuid",               "uint"),
    (123, "setfsgid",               "uint"),
    (124, "getsid",                 "pid"),
    (125, "capget",                 "ptr ptr"),
    (126, "capset",                 "ptr ptr"),
    (127, "rt_sigpending",          "ptr size"),
    (128, "rt_sigtimedwait",        "ptr ptr ptr size"),
    (129, "rt_sigqueueinfo",        "pid sig ptr"),
    (130, "rt_sigsuspend",          "ptr size"),
    (131, "sigaltstack",            "ptr ptr"),
    (132, "utime",                  "path ptr"),
    (133, "mknod",                  "path mode hex"),
    (134, "uselib",                 "path", "obsolete (a.out libraries)"),
    (135, "personality",            "hex"),
    (136, "ustat",                  "hex ptr", "obsolete; use statfs"),
    (137, "statfs",                 "path ptr"),
    (138, "fstatfs",                "fd ptr"),
    (139, "sysfs",                  "int hex hex", "obsolete; argument meaning depends on the option"),
    (140, "getpriority",            "int int"),
    (141, "setpriority",            "int int int"),
    (142, "sched_setparam",         "pid ptr"),
    (143, "sched_getparam",         "pid ptr"),
    (144, "sched_setscheduler",     "pid int ptr"),
    (145, "sched_getscheduler",     "pid"),
    (146, "sched_get_priority_max", "int"),
    (147, "sched_get_priority_min", "int"),
    (148, "sched_rr_get_interval",  "pid ptr"),
    (149, "mlock",                  "ptr size"),
    (150, "munlock",                "ptr size"),
    (151, "mlockall",               "hex"),
    (152, "munlockall",             ""),
    (153, "vhangup",                ""),
    (154, "modify_ldt",             "int ptr size"),
    (155, "pivot_root",             "path path"),
    (156, "_sysctl",                "ptr", "removed in Linux 5.5"),
    (157, "prctl",                  "int hex hex hex hex"),
    (158, "arch_prctl",             "hex ptr"),
    (159, "adjtimex",               "ptr"),
    (160, "setrlimit",              "int ptr"),
    (161, "chroot",                 "path"),
    (162, "sync",                   ""),
    (163, "acct",                   "path"),
    (164, "settimeofday",           "ptr ptr"),
    (165, "mount",                  "path path path hex ptr"),
    (166, "umount2",                "path hex"),
    (167, "swapon",                 "path hex"),
    (168, "swapoff",                "path"),
    (169, "reboot",                 "hex hex hex ptr"),
    (170, "sethostname",            "buf_in size", "the name need not be NUL-terminated"),
    (171, "setdomainname",          "buf_in size"),
    (172, "iopl",                   "int"),
    (173, "ioperm",                 "hex uint int"),
    (174, "create_module",          "path size", "removed in Linux 2.6"),
    (175, "init_module",            "buf_in size path"),
    (176, "delete_module",          "path hex"),
    (177, "get_kernel_syms",        "ptr", "removed in Linux 2.6"),
    (178, "query_module",           "path int ptr size ptr", "removed in Linux 2.6"),
    (179, "quotactl",               "hex path int ptr"),
    (180, "nfsservctl",             "int ptr ptr", "removed in Linux 3.1"),
    (181, "getpmsg",                "hex hex hex hex hex", "never implemented in Linux (STREAMS)"),
    (182, "putpmsg",                "hex hex hex hex hex", "never implemented in Linux (STREAMS)"),
    (183, "afs_syscall",            "hex hex hex hex hex", "never implemented in Linux"),
    (184, "tuxcall",                "hex hex hex", "never implemented in Linux"),
    (185, "security",               "hex hex hex", "never implemented in Linux"),
    (186, "gettid",                 ""),
    (187, "readahead",              "fd off size"),
    (188, "setxattr",               "path path buf_in size hex"),
    (189, "lsetxattr",              "path path buf_in size hex"),
    (190, "fsetxattr",              "fd path buf_in size hex"),
    (191, "getxattr",               "path path buf_out size"),
    (192, "lgetxattr",              "path path buf_out size"),
    (193, "fgetxattr",              "fd path buf_out size"),
    (194, "listxattr",              "path buf_out size"),
    (195, "llistxattr",             "path buf_out size"),
    (196, "flistxattr",             "fd buf_out size"),
    (197, "removexattr",            "path path"),
    (198, "lremovexattr",           "path path"),
    (199, "fremovexattr",           "fd path"),
    (200, "tkill",                  "pid sig", "tgkill of the caller's own thread group"),
    (201, "time",                   "ptr"),
    (202, "futex",                  "ptr hex int ptr ptr int", "arguments: uaddr, op, val, timeout (or val2), uaddr2, val3"),
    (203, "sched_setaffinity",      "pid size ptr"),
    (204, "sched_getaffinity",      "pid size ptr"),
    (205, "set_thread_area",        "ptr", "i386 TLS; x86-64 programs use arch_prctl"),
    (206, "io_setup",               "uint ptr"),
    (207, "io_destroy",             "hex"),
    (208, "io_getevents",           "hex int int ptr ptr"),
    (209, "io_submit",              "hex int ptr"),
    (210, "io_cancel",              "hex ptr ptr"),
    (211, "get_thread_area",        "ptr", "i386 TLS; x86-64 programs use arch_prctl"),
    (212, "lookup_dcookie",         "hex buf_out size", "removed in Linux 6.8"),
    (213, "epoll_create",           "int"),
    (214, "epoll_ctl_old",          "hex hex hex hex", "no entry point in Linux"),
    (215, "epoll_wait_old",         "hex hex hex hex", "no entry point in Linux"),
    (216, "remap_file_pages",       "ptr size prot size hex", "deprecated; emulated by Linux"),
    (217, "getdents64",             "fd buf_out uint"),
    (218, "set_tid_address",        "ptr"),
    (219, "restart_syscall",        "", "used by the kernel's signal restart, never called directly"),
    (220, "semtimedop",             "int ptr size ptr"),
    (221, "fadvise64",              "fd off off int"),
    (222, "timer_create",           "int ptr ptr"),
    (223, "timer_settime",          "int hex ptr ptr"),
    (224, "timer_gettime",          "int ptr"),
    (225, "timer_getoverrun",       "int"),
    (226, "timer_delete",           "int"),
    (227, "clock_settime",          "int ptr"),
    (228, "clock_gettime",          "int ptr", "normally answered by the vDSO without a system call"),
    (229, "clock_getres",           "int ptr"),
    (230, "clock_nanosleep",        "int hex ptr ptr"),
    (231, "exit_group",             "int"),
    (232, "epoll_wait",             "fd ptr int int"),
    (233, "epoll_ctl",              "fd int fd ptr"),
    (234, "tgkill",                 "pid pid sig"),
    (235, "utimes",                 "path ptr"),
    (236, "vserver",                "hex hex hex hex hex", "never implemented in Linux"),
    (237, "mbind",                  "ptr size int ptr uint hex"),
    (238, "set_mempolicy",          "int ptr uint"),
    (239, "get_mempolicy",          "ptr ptr uint ptr hex"),
    (240, "mq_open",                "path oflags mode ptr"),
    (241, "mq_unlink",              "path"),
    (242, "mq_timedsend",           "fd buf_in size uint ptr"),
    (243, "mq_timedreceive",        "fd buf_out size ptr ptr"),
    (244, "mq_notify",              "fd ptr"),
    (245, "mq_getsetattr",          "fd ptr ptr"),
    (246, "kexec_load",             "hex uint ptr hex"),
    (247, "waitid",                 "int pid ptr hex ptr", "5th argument (rusage) is Linux-only"),
    (248, "add_key",                "path path buf_in size int"),
    (249, "request_key",            "path path path int"),
    (250, "keyctl",                 "int hex hex hex hex"),
    (251, "ioprio_set",             "int int hex"),
    (252, "ioprio_get",             "int int"),
    (253, "inotify_init",           ""),
    (254, "inotify_add_watch",      "fd path hex"),
    (255, "inotify_rm_watch",       "fd int"),
    (256, "migrate_pages",          "pid uint ptr ptr"),
    (257, "openat",                 "dirfd path oflags mode"),
    (258, "mkdirat",                "dirfd path mode"),
    (259, "mknodat",                "dirfd path mode hex"),
    (260, "fchownat",               "dirfd path int int hex"),
    (261, "futimesat",              "dirfd path ptr", "obsolete; use utimensat"),
    (262, "newfstatat",             "dirfd path ptr hex", "fstatat(3) in glibc"),
    (263, "unlinkat",               "dirfd path hex"),
    (264, "renameat",               "dirfd path dirfd path"),
    (265, "linkat",                 "dirfd path dirfd path hex"),
    (266, "symlinkat",              "path dirfd path", "arguments: target, newdirfd, linkpath"),
    (267, "readlinkat",             "dirfd path buf_out size"),
    (268, "fchmodat",               "dirfd path mode", "the system call has no flags argument (glibc emulates AT_SYMLINK_NOFOLLOW)"),
    (269, "faccessat",              "dirfd path int", "the system call has no flags argument; see faccessat2"),
    (270, "pselect6",               "int ptr ptr ptr ptr ptr", "6th argument points to {sigset pointer, sigset size}"),
    (271, "ppoll",                  "ptr uint ptr ptr size"),
    (272, "unshare",                "hex"),
    (273, "set_robust_list",        "ptr size"),
    (274, "get_robust_list",        "pid ptr ptr"),
    (275, "splice",                 "fd ptr fd ptr size hex"),
    (276, "tee",                    "fd fd size hex"),
    (277, "sync_file_range",        "fd off off hex"),
    (278, "vmsplice",               "fd ptr uint hex"),
    (279, "move_pages",             "pid uint ptr ptr ptr hex"),
    (280, "utimensat",              "dirfd path ptr hex", "path may be NULL: then it acts on dirfd (futimens(3))"),
    (281, "epoll_pwait",            "fd ptr int int ptr size"),
    (282, "signalfd",               "fd ptr size"),
    (283, "timerfd_create",         "int hex"),
    (284, "eventfd",                "uint"),
    (285, "fallocate",              "fd hex off off"),
    (286, "timerfd_settime",        "fd hex ptr ptr"),
    (287, "timerfd_gettime",        "fd ptr"),
    (288, "accept4",                "fd ptr ptr hex"),
    (289, "signalfd4",              "fd ptr size hex"),
    (290, "eventfd2",               "uint hex"),
    (291, "epoll_create1",          "hex"),
    (292, "dup3",                   "fd fd hex"),
    (293, "pipe2",                  "ptr hex"),
    (294, "inotify_init1",          "hex"),
    (295, "preadv",                 "fd ptr int off uint", "pos_h (5th) is ignored on x86-64"),
    (296, "pwritev",                "fd ptr int off uint", "pos_h (5th) is ignored on x86-64"),
    (297, "rt_tgsigqueueinfo",      "pid pid sig ptr"),
    (298, "perf_event_open",        "ptr pid int fd hex"),
    (299, "recvmmsg",               "fd ptr uint hex ptr"),
    (300, "fanotify_init",          "hex oflags"),
    (301, "fanotify_mark",          "fd hex hex dirfd path"),
    (302, "prlimit64",              "pid int ptr ptr"),
    (303, "name_to_handle_at",      "dirfd path ptr ptr hex"),
    (304, "open_by_handle_at",      "fd ptr oflags"),
    (305, "clock_adjtime",          "int ptr"),
    (306, "syncfs",                 "fd"),
    (307, "sendmmsg",               "fd ptr uint hex"),
    (308, "setns",                  "fd hex"),
    (309, "getcpu",                 "ptr ptr ptr", "normally answered by the vDSO without a system call"),
    (310, "process_vm_readv",       "pid ptr uint ptr uint hex"),
    (311, "process_vm_writev",      "pid ptr uint ptr uint hex"),
    (312, "kcmp",                   "pid pid int hex hex"),
    (313, "finit_module",           "fd path hex"),
    (314, "sched_setattr",          "pid ptr hex"),
    (315, "sched_getattr",          "pid ptr uint hex"),
    (316, "renameat2",              "dirfd path dirfd path hex"),
    (317, "seccomp",                "int hex ptr"),
    (318, "getrandom",              "buf_out size hex"),
    (319, "memfd_create",           "path hex", "always MFD_NOEXEC_SEAL; MFD_EXEC: EACCES (vm.memfd_noexec = 2)"),
    (320, "kexec_file_load",        "fd fd size path hex"),
    (321, "bpf",                    "int ptr uint"),
    (322, "execveat",               "dirfd path argv envp hex"),
    (323, "userfaultfd",            "hex"),
    (324, "membarrier",             "int hex int"),
    (325, "mlock2",                 "ptr size hex"),
    (326, "copy_file_range",        "fd ptr fd ptr size hex"),
    (327, "preadv2",                "fd ptr int off uint hex", "pos_h (5th) is ignored on x86-64"),
    (328, "pwritev2",               "fd ptr int off uint hex", "pos_h (5th) is ignored on x86-64"),
    (329, "pkey_mprotect",          "ptr size prot int"),
    (330, "pkey_alloc",             "hex hex"),
    (331, "pkey_free",              "int"),
    (332, "statx",                  "dirfd path hex hex ptr", "arguments: dirfd, path, flags, mask, statxbuf"),
    (333, "io_pgetevents",          "hex int int ptr ptr ptr"),
    (334, "rseq",                   "ptr uint hex hex"),
    # 335..423: reserved on x86-64
    (424, "pidfd_send_signal",      "fd sig ptr hex"),
    (425, "io_uring_setup",         "uint ptr"),
    (426, "io_uring_enter",         "fd uint uint hex ptr size"),
    (427, "io_uring_register",      "fd uint ptr uint"),
    (428, "open_tree",              "dirfd path hex"),
    (429, "move_mount",             "dirfd path dirfd path hex"),
    (430, "fsopen",                 "path hex"),
    (431, "fsconfig",               "fd uint path ptr int"),
    (432, "fsmount",                "fd hex hex"),
    (433, "fspick",                 "dirfd path hex"),
    (434, "pidfd_open",             "pid hex"),
    (435, "clone3",                 "ptr size"),
    (436, "close_range",            "uint uint hex"),
    (437, "openat2",                "dirfd path ptr size"),
    (438, "pidfd_getfd",            "fd int hex"),
    (439, "faccessat2",             "dirfd path int hex"),
    (440, "process_madvise",        "fd ptr size int hex"),
    (441, "epoll_pwait2",           "fd ptr int ptr ptr size"),
    (442, "mount_setattr",          "dirfd path hex ptr size"),
    (443, "quotactl_fd",            "fd hex int ptr"),
    (444, "landlock_create_ruleset", "ptr size hex"),
    (445, "landlock_add_rule",      "fd int ptr hex"),
    (446, "landlock_restrict_self", "fd hex"),
    (447, "memfd_secret",           "hex"),
    (448, "process_mrelease",       "fd hex"),
    (449, "futex_waitv",            "ptr uint hex ptr int"),
    (450, "set_mempolicy_home_node", "ptr size int hex"),
)


# ==========================================================================
# DEVIATIONS — where the guest kernel's answer differs from Linux's, per call
# (gVisor's PartiallySupported note).  Generated into docs/syscalls.md; a
# handler whose comment says it differs must have its entry here
# (tests/test_syscall_table.py).  EDIT HERE.
# ==========================================================================

DEVIATIONS: dict[str, str] = {
    **dict.fromkeys(("rt_sigsuspend", "ppoll", "pselect6", "epoll_pwait", "epoll_pwait2"), (
        "a mask that blocks SIGSYS is given to the host without it (signal/waits.c), as "
        "rt_sigprocmask never blocks it: the kernel's trap path needs it.")),
    "arch_prctl": (
        "%gs belongs to the kernel (its per-thread block for fastcalls), so ARCH_SET_GS "
        "is refused."),
    "bind": (
        "a root caller's guest gets ports below 1024 of the host's network from the relay "
        "(net/ports.c), as the caller would."),
    "chdir": (
        "search permission is not checked on image and synthetic directories."),
    "chroot": (
        "the root is the guest kernel's (fs/root.c): search permission is not checked on "
        "image and synthetic directories, and a volume's symlink to an absolute path is "
        "resolved from the volume's root, not the chroot's."),
    "clone": (
        "CLONE_VM without CLONE_THREAD (vfork-style) gives the child a copy of the "
        "memory (the kernel's own state lives in it: a second process must not share it)."),
    "clone3": (
        "set_tid, CLONE_INTO_CGROUP, and CLONE_PIDFD with CLONE_PARENT_SETTID are refused "
        "(EINVAL)."),
    "close_range": (
        "the kernel's reserve of fds above the guest's RLIMIT_NOFILE cap is left out of the "
        "range, so a guest fd kept there (opened before the limit went below it) stays open."),
    "connect": (
        "Unix socket paths are resolved in the guest's file system."),
    "getpeername": (
        "a Unix socket's path is the guest's name for it (as getsockname)."),
    "getsockname": (
        "a Unix socket's path is the guest's name for it: a socket bound in a volume or the "
        "scratch /tmp shows its guest path, not the host's."),
    "faccessat2": (
        "image and synthetic objects are checked against their presented mode with the "
        "guest's uid (root passes read and write; W_OK on the image is EROFS)."),
    "fchmod": (
        "image and synthetic fds refuse (EROFS, EPERM) instead of reaching the host file "
        "behind them."),
    "fchmodat": (
        "the image is read-only, synthetic objects refuse (EPERM)."),
    "fchownat": (
        "the image is read-only, synthetic objects refuse (EPERM)."),
    "fcntl": (
        "F_DUPFD cannot reach the kernel's fds (EINVAL at or above the guest's "
        "RLIMIT_NOFILE cap). On an image or /proc directory, F_GETFL/F_SETFL, the owner "
        "(F_SETOWN, F_SETOWN_EX), F_SETSIG, F_NOTIFY (0, no events) and the lease (EINVAL) "
        "are the fd's own, kept by the kernel; an execve forgets its owner and signal. All "
        "other commands are the host's."),
    **dict.fromkeys(("recvmsg", "recvmmsg"), (
        "a directory fd an SCM_RIGHTS part brings is not given to the guest (net/recvmsg.c), "
        "nor those after it: MSG_CTRUNC, as when an LSM refuses a received file; the host "
        "installs them (close-on-exec, given back as the guest asked) and the kernel closes "
        "them as the call returns, with the copies another thread's dup made meanwhile.")),
    "fstat": (
        "image files and directories are presented as the image's (see stat.c)."),
    "getcwd": (
        "the guest's cwd is a path the kernel holds (and, in a volume or the writable root's "
        "layer, the host's cwd, which \".\" names once it is removed): ENOENT once it is "
        "removed, as on Linux, but one made again at the path is taken for it, and a renamed one "
        "keeps its old path."),
    "getdents64": (
        "image and synthetic directories are listed by the kernel (d_off is a cookie, see "
        "dir.c)."),
    "getxattr": (
        "image and synthetic objects have no extended attributes (ENODATA)."),
    "inotify_add_watch": (
        "the image's own directories and files made by libsubst, and the synthetic /proc, "
        "/sys and /dev, cannot be watched (EACCES): they never change."),
    "kill": (
        "a SIGKILL naming the guest's first process (pid 1 of its pid namespace), its "
        "group or every process ends it, as it ends the program natively, though Linux "
        "spares an init (not under --init)."),
    "tgkill": (
        "a SIGKILL to the guest's first process ends it, as kill."),
    "pidfd_send_signal": (
        "a /proc/<pid> directory fd names its pid, not the process it was opened for: "
        "a pid reused since then is signalled; a SIGKILL to the guest's first process "
        "ends it, as kill."),
    "linkat": (
        "the image is read-only; links between a volume and anything else give EXDEV; "
        "AT_EMPTY_PATH works only for a volume fd, as a host linkat."),
    "listxattr": (
        "image and synthetic objects list none."),
    "lseek": (
        "on an image or synthetic directory the offset is the getdents cookie (SEEK_SET "
        "to a d_off, or 0 to rewind; SEEK_CUR 0 tells it)."),
    "memfd_create": (
        "as under vm.memfd_noexec = 2, every memfd is MFD_NOEXEC_SEAL (so sealing is "
        "allowed and F_SEAL_EXEC set) and MFD_EXEC fails with EACCES."),
    "mkdirat": (
        "the image is read-only (EROFS)."),
    "mknodat": (
        "the image is read-only (EROFS)."),
    "mmap": (
        "MAP_FIXED over kernel memory fails with ENOMEM; a file of a packed image maps "
        "the image's pages (no copy), so pages past the file's end but inside the mapping "
        "show the image's next bytes (zeros up to the next page, then the next file) "
        "where Linux would raise SIGBUS (a small image file is copied instead: see "
        "mmap_copy). File mappings at offset 0 are noted as guest objects (ld.so maps "
        "each library so) for crash reports."),
    "mount": (
        "every mount is refused (EPERM) once its arguments are read and its target found, "
        "as Linux answers a container's root without CAP_SYS_ADMIN over the host."),
    "mprotect": (
        "kernel memory is refused (EACCES)."),
    "mremap": (
        "kernel memory is refused."),
    "name_to_handle_at": (
        "the mount id is the guest's (its mountinfo's); AT_HANDLE_FID and "
        "AT_HANDLE_MNT_ID_UNIQUE are refused (EINVAL)."),
    "open_by_handle_at": (
        "always EPERM after the mount fd's check, as a container's root without "
        "CAP_DAC_READ_SEARCH over the host gets."),
    "socket": (
        "netlink protocols other than NETLINK_ROUTE answer EPROTONOSUPPORT (sock_diag would "
        "list the host's Unix sockets under --net host); other families and types the "
        "sandbox refuses answer EPERM."),
    "remap_file_pages": (
        "kernel memory is refused (EINVAL)."),
    "munmap": (
        "kernel memory is refused (EINVAL)."),
    "openat": (
        "the image is read-only (EROFS); image and synthetic directories are placeholder "
        "fds that only getdents, fstat, fchdir, lseek and *at() understand (read gives 0, "
        "not EISDIR); volume symlinks to absolute paths outside the volume, or above it, do "
        "not resolve (EXDEV, as openat2's RESOLVE_BENEATH), and \"..\" inside a volume is "
        "lexical; synthetic files refuse opening for writing (EACCES), to root as well, where "
        "Linux opens them and fails the write; /proc/<pid> is the caller's own process "
        "(and its threads below task/) only."),
    "prctl": (
        "Syscall User Dispatch is the kernel's trap path: PR_SET_SYSCALL_USER_DISPATCH "
        "answers EINVAL, as a Linux built without it; no_new_privs is set from the start "
        "(the seccomp filter needs it) and the "
        "guest's first process has SIGKILL as its parent-death signal (it ends with the "
        "relay): its own PR_SET_PDEATHSIG is kept for PR_GET_PDEATHSIG only, and its "
        "set*id calls arm SIGKILL again where Linux clears it (proc/creds.c); "
        "options outside the host-call allow-list give EPERM."),
    "prlimit64": (
        "RLIMIT_NOFILE cannot be raised into the kernel's reserved fds (the target "
        "process's own)."),
    "readlinkat": (
        "/proc/self/exe reads as the program's AT_EXECFN; /proc/self/fd/N as the guest "
        "path N was opened by."),
    "renameat2": (
        "the image is read-only; renames between a volume and anything else give EXDEV."),
    "rt_sigaction": (
        "SIGSYS is only recorded (the kernel owns it), SIG_DFL for a crash signal keeps "
        "the kernel's crash reporter, SIGSEGV and SIGBUS are delivered by the kernel "
        "(signal/fault.c), and for other signals SA_ONSTACK is served on the host's "
        "current stack."),
    "rt_sigprocmask": (
        "SIGSYS can never be blocked. On the trap path the mask lives in the saved "
        "context."),
    "setxattr": (
        "only user.* attributes can be set (trusted.* and security.*: EPERM, as to a "
        "container's root; others: EOPNOTSUPP), and no value of 20 or 24 "
        "bytes (EPERM): the seccomp filter cannot see names, and a root caller's "
        "guest would set security.capability (values of those sizes) on host root's behalf "
        "in a volume. The image is read-only (EROFS), synthetic objects refuse (EPERM)."),
    "shmat": (
        "SHM_REMAP over kernel memory fails with EINVAL."),
    "sigaltstack": (
        "only SIGSEGV and SIGBUS handlers run on it (the kernel delivers them); others run "
        "on the current stack (the host's alternate stack is the kernel's)."),
    "statfs": (
        "the image is a read-only ramfs with no free space; /proc, /sys, /dev report "
        "procfs, sysfs, tmpfs."),
    "statx": (
        "image and synthetic objects report only STATX_BASIC_STATS."),
    "symlinkat": (
        "the image is read-only. The target is stored verbatim; a volume symlink is "
        "resolved beneath the mount, so an absolute target resolves only if that volume "
        "itself serves it."),
    "tkill": (
        "the thread must be one of the caller's own (tgkill of its thread group), never a "
        "thread named by tid alone."),
    "truncate": (
        "the image is read-only, synthetic files refuse (EACCES)."),
    "umount2": (
        "as mount."),
    "unlinkat": (
        "the image is read-only."),
    "vfork": (
        "the child has a copy of the memory (the parent still waits until it execs or "
        "exits)."),
}

@dataclass(frozen=True)
class Syscall:
    """One x86-64 system call: its number, name, argument kinds and support level."""

    nr: int
    name: str
    args: tuple[str, ...]
    level: str
    note: str = ""
    blocks: bool = False     # may wait indefinitely: signals must be able to interrupt it
    classes: tuple[str, ...] = ()   # its strace classes (CLASSES), for the tracer's filter
    trap_only: bool = False  # served only from a trap's signal frame (TRAP_ONLY)
    based: bool = False      # the host's call unchanged unless its fd is a packed image's (BASED)
    based_arg: int = 0       # BASED: which argument is that fd
    fd_if_empty: bool = False   # given an empty path, the call is its fd's (FD_IF_EMPTY)
    kept: bool = False       # the host's call unchanged unless the kernel keeps its fd's flags (KEPT)

    @property
    def nargs(self) -> int:
        return len(self.args)

    @property
    def handler(self) -> str | None:
        """The C handler's name for a 'kernel' call (``sys_<name>``), else None."""
        return f"sys_{self.name}" if self.level == KERNEL else None


# Calls that may wait indefinitely for something outside the process.  On
# the trap path the kernel serves a call with every signal blocked; around a
# host call of this set it lets the guest's own mask apply, so a signal
# interrupts it (EINTR, or a restart under SA_RESTART) as on Linux.
BLOCKING = frozenset({
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "sendfile", "splice", "tee", "copy_file_range",
    "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "nanosleep", "clock_nanosleep", "pause", "rt_sigsuspend", "rt_sigtimedwait", "futex",
    "futex_waitv", "accept", "accept4", "connect", "recvfrom", "recvmsg", "recvmmsg",
    "sendto", "sendmsg", "sendmmsg", "msgrcv", "msgsnd", "semop", "semtimedop",
    "mq_timedsend", "mq_timedreceive", "flock", "fcntl", "wait4", "waitid", "ioctl",
    "io_getevents", "io_pgetevents", "fsync", "fdatasync", "sync",
})


# Kernel handlers that make the host's call unchanged, with the guest's
# arguments, unless the kernel serves their fd's reads: a file of a packed
# image (a window of it: fs/read_write.c) or a generated /proc or /sys file
# (fs/synth_fd.c); each maps to the argument that is that fd.  Their
# fastcalls go from the entry straight to the host, as 'host' calls do
# (arch/x86_64/fastcall.S), when that fd's byte in the kernel's fs_based,
# which the entry tests itself, is clear.
# tests/test_syscall_table.py checks each handler's first statement says so.
BASED = {
    "read": 0, "pread64": 0, "readv": 0, "preadv": 0, "preadv2": 0, "sendfile": 1,
    "copy_file_range": 0, "splice": 0,
}


# Kernel handlers that make the host's call unchanged, with the guest's
# arguments, unless their fd (the first argument) is one whose status flags
# the kernel keeps in its entry (a placeholder of an image or /proc
# directory, shared by every such fd; a packed image's file: fs/fd.c's
# sys_ioctl, for FIONBIO) or is not the guest's at all (the kernel's own
# fds lie above the guest's range: EBADF).  Their fastcalls go from the
# entry straight to the host when that fd's byte in the kernel's fs_kept,
# which the entry tests itself, is clear: a terminal's, a socket's or a
# pipe's ioctl pays no kernel entry.
KEPT = frozenset({"ioctl"})


# Calls that, given an empty path (and AT_EMPTY_PATH), act on their fd:
# glibc's fstat is newfstatat(fd, "", st, AT_EMPTY_PATH).  Each is (dirfd,
# path, ...) with no other path (checked below).  The dispatcher reads the
# path's first byte, and when it is empty reaches the handler directly with
# the kernel's own "", with no copy and no walk to watch (dispatch.c);
# tests/conformance/fstat.c compares with Linux.
FD_IF_EMPTY = frozenset({"newfstatat", "statx"})


# Calls served only on the trap path: they change the stack or the task
# under the caller's feet, so their handlers need the real signal frame a
# trap gives.  The rewriter never turns their sites into fastcalls
# (uklibc.stub.EXCLUDED_SYSCALLS).  One that comes by a fastcall anyway (as
# syscall(3)'s generic site makes it) is served where the handler can do
# without the frame: a new process, a new thread (the fastcall entry saves
# every register for clone and clone3: arch/x86_64/fastcall.S), and answered
# ENOSYS where it cannot (rt_sigreturn: signal/signal.c).
TRAP_ONLY = frozenset({"rt_sigreturn", "clone", "fork", "vfork", "clone3"})


# strace's syscall classes (``strace -e trace=%file`` ...), the tracer's
# filter vocabulary: ``--trace-calls %file`` traces what strace's does.  The
# sets follow strace's x86-64 syscall table (its TF, TD, TN, TP, TS, TM, TC,
# TCL and TI flags); a call may be in several classes or in none.
CLASSES: dict[str, frozenset[str]] = {
    # takes a file name
    "file": frozenset({
        "open", "stat", "lstat", "access", "execve", "truncate", "getcwd", "chdir", "rename",
        "mkdir", "rmdir", "creat", "link", "unlink", "symlink", "readlink", "chmod", "chown",
        "lchown", "utime", "mknod", "uselib", "statfs", "pivot_root", "chroot", "acct",
        "mount", "umount2", "swapon", "swapoff", "quotactl", "setxattr", "lsetxattr",
        "getxattr", "lgetxattr", "listxattr", "llistxattr", "removexattr", "lremovexattr",
        "utimes", "inotify_add_watch", "openat", "mkdirat", "mknodat", "fchownat",
        "futimesat", "newfstatat", "unlinkat", "renameat", "linkat", "symlinkat",
        "readlinkat", "fchmodat", "faccessat", "utimensat", "fanotify_mark",
        "name_to_handle_at", "renameat2", "execveat", "statx", "open_tree", "move_mount",
        "fsconfig", "fspick", "openat2", "faccessat2", "mount_setattr"}),
    # takes or returns a file descriptor
    "desc": frozenset({
        "read", "write", "open", "close", "fstat", "poll", "lseek", "mmap", "ioctl", "pread64",
        "pwrite64", "readv", "writev", "pipe", "select", "dup", "dup2", "sendfile", "fcntl",
        "flock", "fsync", "fdatasync", "ftruncate", "getdents", "fchdir", "creat", "fchmod",
        "fchown", "fstatfs", "readahead", "fsetxattr", "fgetxattr", "flistxattr",
        "fremovexattr", "epoll_create", "getdents64", "fadvise64", "epoll_wait", "epoll_ctl",
        "mq_open", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
        "inotify_init", "inotify_add_watch", "inotify_rm_watch", "openat", "mkdirat",
        "mknodat", "fchownat", "futimesat", "newfstatat", "unlinkat", "renameat", "linkat",
        "symlinkat", "readlinkat", "fchmodat", "faccessat", "pselect6", "ppoll", "splice",
        "tee", "sync_file_range", "vmsplice", "utimensat", "epoll_pwait", "signalfd",
        "timerfd_create", "eventfd", "fallocate", "timerfd_settime", "timerfd_gettime",
        "signalfd4", "eventfd2", "epoll_create1", "dup3", "pipe2", "inotify_init1", "preadv",
        "pwritev", "perf_event_open", "fanotify_init", "fanotify_mark", "name_to_handle_at",
        "open_by_handle_at", "syncfs", "setns", "finit_module", "renameat2", "memfd_create",
        "kexec_file_load", "bpf", "execveat", "userfaultfd", "copy_file_range", "preadv2",
        "pwritev2", "statx", "pidfd_send_signal", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
        "fspick", "pidfd_open", "openat2", "pidfd_getfd", "faccessat2", "process_madvise",
        "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset",
        "landlock_add_rule", "landlock_restrict_self", "memfd_secret", "process_mrelease"}),
    "network": frozenset({
        "sendfile", "socket", "connect", "accept", "sendto", "recvfrom", "sendmsg", "recvmsg",
        "shutdown", "bind", "listen", "getsockname", "getpeername", "socketpair",
        "setsockopt", "getsockopt", "getpmsg", "putpmsg", "accept4", "recvmmsg", "sendmmsg"}),
    # process lifetime: creation, exec, exit, wait, signals to others
    "process": frozenset({
        "clone", "fork", "vfork", "execve", "exit", "wait4", "kill", "rt_sigqueueinfo",
        "tkill", "exit_group", "tgkill", "waitid", "rt_tgsigqueueinfo", "execveat",
        "pidfd_send_signal", "clone3"}),
    "signal": frozenset({
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "pause", "kill", "rt_sigpending",
        "rt_sigtimedwait", "rt_sigqueueinfo", "rt_sigsuspend", "sigaltstack", "tkill",
        "tgkill", "signalfd", "signalfd4", "rt_tgsigqueueinfo", "pidfd_send_signal",
        "io_uring_enter"}),
    # the address space
    "memory": frozenset({
        "mmap", "mprotect", "munmap", "brk", "mremap", "msync", "mincore", "madvise", "shmat",
        "shmdt", "mlock", "munlock", "mlockall", "munlockall", "io_setup", "io_destroy",
        "remap_file_pages", "mbind", "set_mempolicy", "get_mempolicy", "migrate_pages",
        "move_pages", "mlock2", "pkey_mprotect", "io_uring_register",
        "set_mempolicy_home_node"}),
    # identity: user, group and capabilities
    "creds": frozenset({
        "getuid", "getgid", "setuid", "setgid", "geteuid", "getegid", "setreuid", "setregid",
        "getgroups", "setgroups", "setresuid", "getresuid", "setresgid", "getresgid",
        "setfsuid", "setfsgid", "capget", "capset", "prctl"}),
    # reading and setting clocks
    "clock": frozenset({
        "gettimeofday", "adjtimex", "settimeofday", "time", "clock_settime", "clock_gettime",
        "clock_getres", "clock_adjtime"}),
    # System V IPC
    "ipc": frozenset({
        "shmget", "shmat", "shmctl", "semget", "semop", "semctl", "shmdt", "msgget", "msgsnd",
        "msgrcv", "msgctl", "semtimedop"}),
}


def _build() -> tuple[Syscall, ...]:
    rows = []
    for row in _ROWS:
        nr, name, args = row[0], row[1], tuple(row[2].split())
        note = row[3] if len(row) > 3 else ""
        classes = tuple(c for c, names in CLASSES.items() if name in names)
        rows.append(Syscall(nr, name, args, LEVELS.get(name, ENOSYS), note, name in BLOCKING,
                            classes, name in TRAP_ONLY, name in BASED, BASED.get(name, 0),
                            name in FD_IF_EMPTY, name in KEPT))
    return tuple(sorted(rows, key=lambda s: s.nr))


TABLE: tuple[Syscall, ...] = _build()

_BY_NAME: dict[str, Syscall] = {s.name: s for s in TABLE}
_BY_NR: dict[int, Syscall] = {s.nr: s for s in TABLE}


def _check() -> None:
    """Cheap consistency checks, run at import: a bad edit fails loudly here."""
    if len(_BY_NAME) != len(TABLE):
        dup = sorted({s.name for s in TABLE if sum(t.name == s.name for t in TABLE) > 1})
        raise ValueError(f"syscalls.py: duplicate syscall names: {dup}")
    if len(_BY_NR) != len(TABLE):
        dup = sorted({s.nr for s in TABLE if sum(t.nr == s.nr for t in TABLE) > 1})
        raise ValueError(f"syscalls.py: duplicate syscall numbers: {dup}")
    unknown = sorted(set(LEVELS).union(*CLASSES.values()) - set(_BY_NAME))
    if unknown:
        raise ValueError(f"syscalls.py: LEVELS or CLASSES name no syscall in TABLE: {unknown}")
    bad = sorted(f"{n}={lv!r}" for n, lv in LEVELS.items() if lv not in LEVEL_VALUES)
    if bad:
        raise ValueError(f"syscalls.py: LEVELS has invalid levels {bad}; valid: {LEVEL_VALUES}")
    for s in TABLE:
        if not (0 <= s.nr and s.name.isidentifier()):
            raise ValueError(f"syscalls.py: bad row {s.nr} {s.name!r}")
        if len(s.args) > 6:
            raise ValueError(f"syscalls.py: {s.name} has {len(s.args)} arguments; x86-64 passes at most 6")
        if s.level == KERNEL and s.args.count("path") > 3:
            raise ValueError(f"syscalls.py: {s.name}: the dispatcher copies at most 3 'path' arguments")
        if s.fd_if_empty and (s.level != KERNEL or s.args[:2] != ("dirfd", "path")
                              or s.args.count("path") != 1):
            raise ValueError(f"syscalls.py: {s.name}: FD_IF_EMPTY needs a kernel handler whose "
                             "one path is its second argument, after its fd")
        for i, kind in enumerate(s.args):
            if kind not in ARG_KINDS:
                raise ValueError(f"syscalls.py: {s.name} argument {i} has unknown kind {kind!r}")
            if kind == "buf_in" and (i + 1 >= len(s.args) or s.args[i + 1] not in _LENGTH_KINDS):
                raise ValueError(f"syscalls.py: {s.name}: 'buf_in' must be followed by its length")


_check()


def by_name(name: str) -> Syscall:
    """The syscall called ``name``; raises KeyError if x86-64 has none."""
    return _BY_NAME[name]


def by_nr(nr: int) -> Syscall | None:
    """The syscall numbered ``nr``, or None for an unassigned number."""
    return _BY_NR.get(nr)


def implemented() -> tuple[Syscall, ...]:
    """The syscalls the guest kernel serves (level 'host' or 'kernel'), by number."""
    return tuple(s for s in TABLE if s.level != ENOSYS)


MAX_NR: int = TABLE[-1].nr
