/*
 * A boot-plan cache entry: the contract between the Python orchestrator
 * (libsubst/plancache.py, which writes and reads entries) and the native
 * front end (c_src/frontend/, which reads them and boots the guest without
 * starting Python).
 *
 * One entry is one file, $XDG_CACHE_HOME/libsubst/plans/<name> (default
 * ~/.cache), where <name> is LS_PLAN_NAME_LEN hex digits of the FNV-1a
 * 64-bit hash of the entry's key.  The key is compared byte for byte, so a
 * hash collision is a miss, never a wrong plan.  A run's key is the
 * concatenation of NUL-terminated strings:
 *     "run" LS_BUILD_ID euid egid boot_id nodename cwd k argv[1..k] more
 * (numbers in decimal; boot_id is /proc/sys/kernel/random/boot_id without
 * its newline; nodename uname(2)'s; argv[1] is "run").  argv[1..k] ends at
 * PROGRAM, where the Python CLI's parser (click) put it: libsubst's own
 * options and the program decide the plan; the program's own arguments,
 * argv[k+1..], do not, and `more` is only "1" if there are any, else "0"
 * (an image's recorded arguments stay when none are given).  The front end
 * does not parse options: it looks the keys of k = 2, 3, ... up, and at most
 * one can be an entry's, since the parser stops at PROGRAM whatever follows.
 * The guest's argv is the cached block's first argv_keep strings followed by
 * argv[k+1..], so the front end rewrites the block's argv.  The
 * environment is not in the key: the variables planning read are the entry's env_deps,
 * each "NAME=VALUE" (the caller's value must be that) or "NAME" (the caller
 * must not have it); and with LS_PLAN_CALLER_ENV the guest's environment is
 * the caller's, made at each run as Python's dict(os.environ) makes it (the
 * first place of a name, its last value; entries without '=' dropped), then
 * updated with `overrides` ("NAME=VALUE", run's --env), so the front end
 * rewrites the block's envp.  An entry serves a later run only while every
 * dependency still has the identity recorded: each host file the plan read
 * (the program, every object, the substitutes, /etc files, the image, the
 * paths searched, present or absent), the guest kernel, and the volumes'
 * sources.
 *
 * Layout: a struct ls_plan_head at offset 0; every other part is found by a
 * byte offset from the start of the file; a "string offset" is the offset
 * of a NUL-terminated string in the file.  Little-endian x86-64 natives.
 * Readers check every offset and size against the file's size: an entry is
 * a file on disk, so a truncated or corrupted one is a miss.
 *
 * This header is read by cffi too (libsubst/_build_abi.py): plain structs
 * and integer constants only.
 */
#ifndef LIBSUBST_PLANCACHE_H
#define LIBSUBST_PLANCACHE_H
#ifndef CFFI_CDEF
#include <stdint.h>
#endif

#define LS_PLAN_MAGIC 0x314e414c50534c55
#define LS_PLAN_VERSION 4
#define LS_PLAN_MAX_BYTES 67108864   /* a larger entry file is never read */
#define LS_PLAN_MAX_ENTRIES 256      /* the writer removes the oldest past this many */
#define LS_PLAN_NAME_LEN 16

/* ls_plan_dep.flags */
#define LS_DEP_NOFOLLOW 1    /* lstat(2) the path: the link itself, not its target */
#define LS_DEP_ABSENT 2      /* the path did not exist: it must still not (ENOENT) */
/* LS_DEP_SAME_INODE: only dev and ino must match (a volume's directory: its contents are
 * the guest's to change, read live; a directory planning only looked through) */
#define LS_DEP_SAME_INODE 4

/* ls_plan_head.flags */
/* LS_PLAN_IMAGE: the plan's files are in a packed image: open `image` read-only and give
 * its fd as the boot info's image_fd */
#define LS_PLAN_IMAGE 1
/* LS_PLAN_CALLER_ENV: the guest's environment is the caller's, updated with the overrides */
#define LS_PLAN_CALLER_ENV 2

/* One host file's identity as stat(2) gave it when the plan was made. */
struct ls_plan_dep {
    uint64_t dev;
    uint64_t ino;
    uint64_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
    uint32_t mode;
    uint32_t path;               /* string offset */
    uint32_t flags;              /* LS_DEP_* */
    uint32_t reserved;
};

struct ls_plan_head {
    uint64_t magic;              /* LS_PLAN_MAGIC */
    uint32_t version;            /* LS_PLAN_VERSION */
    uint32_t flags;              /* LS_PLAN_* */
    uint64_t size;               /* bytes in the whole entry */
    uint32_t key_off, key_size;  /* the key, byte for byte */
    uint32_t deps_off, ndeps;    /* struct ls_plan_dep[ndeps] */
    uint64_t boot_off, boot_size;   /* the boot-info block (bootinfo.h) to give the kernel;
                                       its report_fd and image_fd are the reader's to set */
    uint64_t plan_off, plan_size;   /* the plan as JSON (libsubst.plan.GuestPlan.to_json) */
    uint32_t kernel;             /* string offset: the guest kernel to exec */
    uint32_t image;              /* string offset: the packed image (LS_PLAN_IMAGE), else 0 */
    uint32_t stop_timeout_ms;    /* run --stop-timeout */
    uint32_t env_deps_off;       /* uint32_t string offsets [n_env_deps] */
    uint32_t n_env_deps;
    uint32_t overrides_off;      /* uint32_t string offsets [n_overrides] */
    uint32_t n_overrides;
    uint32_t supervisor;         /* string offset: libsubst-supervise, which the reader execs
                                    once the kernel runs (supervise.c's command line) */
    uint32_t epilogue_off;       /* uint32_t string offsets [n_epilogue]: the supervisor's */
    uint32_t n_epilogue;         /* EPILOGUE_COMMAND, before its "--bootinfo FD" */
    uint32_t argv_keep;          /* the block's argv strings kept before the caller's
                                    arguments (a program: 1; an image: those it keeps) */
    uint32_t stop_text;          /* string offset: the supervisor's STOP_TEXT */
    uint32_t preserve_fds;       /* run --preserve-fds N: the caller's fds 3 .. 3+N-1 pass */
};

#endif
