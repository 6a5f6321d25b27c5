/*
 * The Landlock rights the tender's ruleset handles and grants a volume
 * (c_src/tender/landlock.c), in one place: the benchmarks' native launcher
 * (benchmarks/contained.c) restricts a native server with the same rules,
 * so the servers benchmark can tell the sandbox's price from libsubst's.
 *
 * The UAPI header of the build machine may predate the ABI this uses, so
 * the rights past ABI 3 are spelled out here.  See landlock(7).
 */
#ifndef LIBSUBST_LANDLOCK_RULES_H
#define LIBSUBST_LANDLOCK_RULES_H

#include <stdint.h>
#include <linux/landlock.h>

#define LS_LL_TRUNCATE (1ULL << 14)                  /* ABI 3 */
#define LS_LL_IOCTL_DEV (1ULL << 15)                 /* ABI 5 */
#define LS_LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LS_LL_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
                           LANDLOCK_ACCESS_FS_READ_FILE | LS_LL_TRUNCATE | LS_LL_IOCTL_DEV)
/* What a read-only bind's rule grants.  An open asks Landlock, besides
 * read, for the optional truncate right, and a rule that lacks it sends
 * the check on up through every ancestor to the host's root (~290 ns per
 * open, benchmarks/landlock_walk.py).  Granting it loosens nothing: the
 * bind is read-only, and Linux takes the mount's write access (EROFS)
 * before it asks Landlock about a truncate or a write; the filter keeps
 * the guest from remounting (tests/test_sandbox.py, from kernel text). */
#define LS_LL_READ_ONLY_BIND (LANDLOCK_ACCESS_FS_READ_FILE | LS_LL_TRUNCATE)
/* A volume's rule: read-only, or every right but execute (the guest's
 * programs are mapped by its kernel, never executed by the host). */
#define LS_LL_VOLUME_RO (LS_LL_READ | LS_LL_READ_ONLY_BIND)
#define LS_LL_VOLUME_RW (~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE)
/* The host devices a guest uses (c_src/tender/root.c binds them into its
 * root), and what the rule for each grants. */
#define LS_LL_DEVICES "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"
#define LS_LL_DEVICE (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LS_LL_IOCTL_DEV)
/* The scopes of ABI 6: no signal to, and no abstract Unix socket of, a
 * process outside the domain. */
#define LS_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LS_LL_SCOPE_SIGNAL (1ULL << 1)

struct ls_landlock_ruleset_attr {    /* struct landlock_ruleset_attr, ABI 6 */
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

/* Every file-system right Landlock of this ABI knows: the ruleset handles
 * them all, so nothing is allowed that no rule grants. */
static inline uint64_t ls_landlock_handled_fs(long abi)
{
    uint64_t handled = (1ULL << 13) - 1;             /* ABI 1 */
    if (abi >= 2)
        handled |= 1ULL << 13;                       /* REFER */
    if (abi >= 3)
        handled |= LS_LL_TRUNCATE;
    if (abi >= 5)
        handled |= LS_LL_IOCTL_DEV;
    return handled;
}

#endif
