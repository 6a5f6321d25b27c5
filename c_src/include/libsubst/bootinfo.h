/*
 * The boot-info block: the contract between the Python orchestrator
 * (libsubst.monitor, which writes it) and the guest kernel (which reads it).
 *
 * The orchestrator writes one block into a memfd and starts the guest as
 *     libsubst-kernel BOOTINFO_FD
 * The kernel maps the block read-only and never writes it; a guest's execve
 * passes the same block on to the next kernel, with a small block of its
 * own beside it (c_src/kernel/proc/exec.h: struct exec_block).  When the guest's
 * files come from a packed image (docs/image-format.md), image_fd is a host
 * fd of that image file, open read-only; LS_ENT_IMAGE_FILE entries are byte
 * ranges of it, and the kernel serves them without copying (read is pread
 * at an offset, mmap maps the image's pages).
 *
 * Layout: a struct ls_bootinfo at offset 0; every other part is found by a
 * byte offset from the start of the block.  A "string offset" is the offset
 * of a NUL-terminated string in the block; 0 means "none" (offset 0 is the
 * magic, never a string).  All integers are little-endian x86-64 natives.
 *
 * This header is read by cffi too (libsubst/_build_abi.py keeps only the
 * struct declarations and the "#define NAME NUMBER" lines), so it holds
 * nothing but plain structs and integer constants.
 */
#ifndef LIBSUBST_BOOTINFO_H
#define LIBSUBST_BOOTINFO_H
#ifndef CFFI_CDEF
#include <stdint.h>
#endif

#define LS_BOOTINFO_MAGIC 0x315442534c4c5553
#define LS_BOOTINFO_VERSION 7

/* A root caller's guest gets this many host uids (and gids), from host_uid
 * (host_gid) on, so a server can still drop to its service user
 * (c_src/tender/relay.c writes the maps, libsubst/monitor/identity.py
 * finds the range). */
#define LS_GUEST_IDS 65536
#define LS_BOOT_GROUPS 64         /* struct ls_bootinfo's groups */

/* ls_bootinfo.flags */
#define LS_BOOT_TRACE 1          /* trace every guest syscall to trace_fd */
#define LS_BOOT_NET_NONE 2       /* a network namespace of its own with only loopback (--net none) */
#define LS_BOOT_EXECED 4         /* booted by a guest's execve: the sandbox is already in force */
#define LS_BOOT_NO_POLICY 8      /* no namespaces, seccomp or Landlock: only to measure their cost */
#define LS_BOOT_TRACE_SUMMARY 16 /* count and time the traced calls in trace_sum_fd (trace.h) */
#define LS_BOOT_TRACE_JSON 32    /* trace lines are JSON objects, not strace-style text */
#define LS_BOOT_DENY 64          /* the calls of deny_calls answer ENOSYS (--enosys) */
#define LS_BOOT_NO_TRAP 128      /* with LS_BOOT_NO_POLICY only: no Syscall User Dispatch, to measure its cost */
/* LS_BOOT_WEAKER_SANDBOX: the caller accepts a host Landlock below ABI
 * LS_LANDLOCK_ABI, or none (--allow-weaker-sandbox): the kernel uses what there is. */
#define LS_BOOT_WEAKER_SANDBOX 256
/* The Landlock ABI the sandbox relies on: scoped signals and abstract Unix
 * sockets (6), beside file access (1).  The monitor asks for it before the
 * guest starts (libsubst/monitor/landlock.py), the tender again (landlock.c). */
#define LS_LANDLOCK_ABI 6
/* LS_BOOT_HOST_ROOT_IDS: a root caller's guest ids are host ids 0..65535 (host_uid and
 * host_gid 0), as a runc container's without a user namespace: libsubst-runtime's, whose
 * engine-made overlay root cannot be idmapped.  Without it host_uid 0 is refused. */
#define LS_BOOT_HOST_ROOT_IDS 512
/* LS_BOOT_INIT (--init): a small init of the kernel's is pid 1 of the guest's pid
 * namespace and the program its child, pid 2 (c_src/kernel/proc/init.c). */
#define LS_BOOT_INIT 1024
/* LS_BOOT_CLOSED_STDIN << fd (fd 0, 1, 2): that standard fd was closed when
 * libsubst started.  libsubst holds the number with /dev/null, so that none
 * of its own fds lands there, and the first boot closes it just before the
 * program starts: the guest sees it closed, as it would natively. */
#define LS_BOOT_CLOSED_STDIN 2048
#define LS_BOOT_CLOSED_STDOUT 4096
#define LS_BOOT_CLOSED_STDERR 8192
/* LS_BOOT_INIT_RULE: the guest's first process keeps Linux's rule for a pid namespace's
 * init (pid_namespaces(7)): a signal it has no handler for is dropped, SIGKILL from
 * itself too, as a runc container's first process (libsubst-runtime's).  Without it
 * the kernel ends that process as the default action ends any other (signal/signal.c). */
#define LS_BOOT_INIT_RULE 16384

/* ls_bootinfo.trace_calls: one bit per syscall number below this; a set bit
 * traces (and counts) that call, a clear one lets it run untraced.  Numbers
 * past the map are always traced: none is a syscall of x86-64. */
#define LS_TRACE_MAP_BITS 512

/* ls_fs_entry.kind */
#define LS_ENT_DIR 1             /* a directory; children are the entries below its path */
#define LS_ENT_HOST_FILE 2       /* a regular file whose bytes are the host file at target */
#define LS_ENT_DATA_FILE 3       /* a regular file whose bytes are data_size bytes at data_off */
#define LS_ENT_SYMLINK 4         /* a symbolic link whose target is the string at target */
/* LS_ENT_IMAGE_FILE: a regular file whose bytes are data_size bytes at offset data_off of
 * the image file (image_fd); data_off is a multiple of 4096, so the file can be mapped. */
#define LS_ENT_IMAGE_FILE 5

/* ls_mount.flags */
#define LS_MNT_RDONLY 1
/* LS_MNT_SCRATCH: no host directory but a tmpfs of the guest's own, of size_mib MiB (0: the
 * host's default), made by the kernel at `host`, a path of the guest's mount namespace only. */
#define LS_MNT_SCRATCH 2

struct ls_fs_entry {
    uint32_t path;               /* string offset: absolute, normalised guest path */
    uint32_t kind;               /* LS_ENT_* */
    uint32_t mode;               /* permission bits (no file-type bits) */
    uint32_t target;             /* string offset: host path (HOST_FILE) or link target (SYMLINK) */
    uint64_t data_off;           /* DATA_FILE: offset of the bytes in the block;
                                    IMAGE_FILE: offset of the bytes in the image file */
    uint64_t data_size;          /* DATA_FILE, IMAGE_FILE: their count; HOST_FILE: host size */
    uint64_t mtime_ns;           /* DATA_FILE, IMAGE_FILE: st_mtime in ns since the epoch
                                    (0: the epoch); HOST_FILE, DIR: unused (0) */
};

/* A host directory bound into the guest: guest paths at or below `guest`
 * resolve beneath the host directory `host` (openat2 RESOLVE_BENEATH). */
struct ls_mount {
    uint32_t guest;              /* string offset: absolute guest path */
    uint32_t host;               /* string offset: absolute host path */
    uint32_t flags;              /* LS_MNT_* */
    uint32_t size_mib;           /* LS_MNT_SCRATCH: the tmpfs's size in MiB, 0 for no limit */
    uint32_t mode;               /* LS_MNT_SCRATCH: its root's permission bits, 0 for 01777 */
    uint32_t gid;                /* LS_MNT_SCRATCH: its root's group (a guest gid), 0 root's */
};

struct ls_bootinfo {
    uint64_t magic;              /* LS_BOOTINFO_MAGIC */
    uint32_t version;            /* LS_BOOTINFO_VERSION */
    uint32_t size;               /* bytes in the whole block */
    uint32_t flags;              /* LS_BOOT_* */
    int32_t trace_fd;            /* host fd for the trace stream, -1 for none */
    int32_t report_fd;           /* host fd of the report channel (see report.h), -1 for none */
    uint32_t uid, gid;           /* identity the guest sees */
    uint32_t exe;                /* string offset: guest path of the program to map */
    uint32_t execfn;             /* string offset: AT_EXECFN / /proc/self/exe as the guest sees it */
    uint32_t cwd;                /* string offset: initial guest working directory */
    uint32_t hostname;           /* string offset: what uname(2) reports as nodename */
    uint32_t argc;               /* argv: argc string offsets (uint32) at argv_off */
    uint32_t argv_off;
    uint32_t envc;               /* envp: envc string offsets (uint32) at envp_off */
    uint32_t envp_off;
    uint32_t nentries;           /* struct ls_fs_entry[nentries] at entries_off, sorted by path (bytes) */
    uint32_t entries_off;
    uint32_t nmounts;            /* struct ls_mount[nmounts] at mounts_off, sorted by host path */
    uint32_t mounts_off;
    int32_t image_fd;            /* host fd of the packed image (read-only), -1 for none;
                                    required when an entry is LS_ENT_IMAGE_FILE */
    uint32_t host_uid, host_gid; /* a root caller's guest runs as host uids host_uid..
                                    (LS_GUEST_IDS of them; root inside) and gids host_gid.. */
    int32_t port_fd;             /* host fd of the relay's channel for ports below 1024
                                    (net/ports.c), -1 for none; set by the kernel */
    int32_t core_fd;             /* host fd of an empty file a fatal signal writes an ELF core
                                    file to (--core), -1 for none (signal/core.c) */
    int32_t debug_fd;            /* host fd the kernel reads one byte from before it enters
                                    the program, once a debugger (--gdb) or perf (--profile)
                                    has attached; on 'g' (gdb) it then stops on an int3 with
                                    the program's entry in %r11 and its initial stack pointer
                                    in %rsp.  -1 for none. */
    int32_t trace_sum_fd;        /* host fd of the summary's counters (trace.h), -1 for none */
    int32_t shared_fd;           /* host fd of the memory every process of the guest shares
                                    (kernel/mm/shared.c): made by the first boot, handed
                                    over by execve (its exec block); -1 from the monitor */
    uint64_t trace_calls[8];     /* LS_TRACE_MAP_BITS bits (nr / 64, bit nr % 64): the calls
                                    LS_BOOT_TRACE and LS_BOOT_TRACE_SUMMARY apply to */
    uint64_t deny_calls[8];      /* with LS_BOOT_DENY, the same map: calls answered ENOSYS
                                    (counted and reported) as if unimplemented */
    uint32_t pids_max;           /* the guest's limits (--pids, --cpus, --memory), shown in */
    uint32_t cpus;               /* /sys/fs/cgroup; 0: none */
    uint64_t mem_max;
    uint64_t caller_blocked;     /* the signal mask libsubst was started with (bit N - 1:
                                    signal N), as the program's execve would keep it: the
                                    first boot leaves these forwarded signals blocked */
    uint64_t caller_pending;     /* of those, the ones pending for libsubst as it started
                                    (taken from it): the first boot raises them again, so
                                    they wait for the program as across its execve */
    uint64_t itimers[3][2];      /* ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF as the caller
                                    had them armed (taken from libsubst): value and interval
                                    in microseconds, 0 0 for off; the first boot arms them */
    uint32_t ngroups;            /* the caller's supplementary groups (the first
                                    LS_BOOT_GROUPS): a root caller's guest keeps those below
                                    LS_GUEST_IDS, as guest gids (its namespace maps them) */
    uint32_t groups[64];         /* LS_BOOT_GROUPS (tender/namespaces.c checks) */
};

#endif
