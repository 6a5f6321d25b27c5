/*
 * Landlock: the host files the guest kernel can open, whatever it is asked.
 * Read-only: every host file of the image (program, libraries, their
 * substitutes, /etc sources) and every file it generates (root.c writes
 * them), a few device nodes, this process's own /proc
 * entries and the system-wide files the synthetic /proc and /sys copy;
 * read-write: the guest's own /proc (its pid namespace's), for the files
 * Linux lets its processes write;
 * read-only or read-write: the declared volumes.
 * Nothing else of the host's file system.  Only the kernel binary may be
 * executed (execve boots it again on the next program): the guest's
 * programs are mapped by the kernel, never executed by the host, so a guest
 * jumping into kernel text cannot start one outside the trap.  The guest
 * also cannot signal processes outside its domain or reach abstract Unix
 * sockets outside it (ABI 6, required unless the caller accepted less with
 * --allow-weaker-sandbox).  See landlock(7).
 */
#include "tender.h"
#include <linux/stat.h>
#include "libsubst/landlock_rules.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

static uint64_t handled;             /* the rights this host's Landlock knows */

static void allow(int ruleset, const char *path, uint64_t rights, int is_dir)
{
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_PATH | O_CLOEXEC, 0);
    if (fd < 0)
        return;                      /* absent on this host: nothing to allow */
    struct stat st;
    if (hsys2(__NR_fstat, fd, (long)&st) == 0 && !S_ISDIR(st.st_mode))
        rights &= LS_LL_FILE_RIGHTS;    /* a file can only carry file rights */
    else if (!is_dir)
        rights &= LS_LL_FILE_RIGHTS | LS_LL_READ;
    struct landlock_path_beneath_attr pb = {.allowed_access = rights & handled, .parent_fd = fd};
    hsys4(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, (long)&pb, 0);
    hsys1(__NR_close, fd);
}

/* Unless the caller accepted a weaker sandbox (LS_BOOT_WEAKER_SANDBOX),
 * -ENOSYS or -EOPNOTSUPP; the monitor has said what it lacks. */
long tender_landlock(const struct ls_lockdown *lock, int own_proc)
{
    long abi = hsys3(__NR_landlock_create_ruleset, 0, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < LS_LANDLOCK_ABI && !(tender_bi->flags & LS_BOOT_WEAKER_SANDBOX))
        return abi < 1 ? -ENOSYS : -EOPNOTSUPP;
    if (abi < 1)
        return 0;
    handled = ls_landlock_handled_fs(abi);
    struct ls_landlock_ruleset_attr attr = {.handled_access_fs = handled};
    size_t size = 8;
    if (abi >= 6) {
        attr.scoped = LS_LL_SCOPE_ABSTRACT_UNIX_SOCKET | LS_LL_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    long rs = hsys3(__NR_landlock_create_ruleset, (long)&attr, size, 0);
    if (rs < 0)
        return rs;
    const struct ls_fs_entry *e = tender_entries();
    char where[LS_HOST_FILE_PATH_MAX];
    for (uint32_t i = 0; i < tender_bi->nentries; i++) {
        if (e[i].kind != LS_ENT_HOST_FILE && e[i].kind != LS_ENT_DATA_FILE)
            continue;
        ksnprintf(where, sizeof where, LS_HOST_FILE_FMT, i);    /* root.c put it there */
        allow(rs, where, LS_LL_READ_ONLY_BIND, 0);
    }
    const struct ls_mount *m = tender_mounts();
    for (uint32_t i = 0; i < tender_bi->nmounts; i++)
        allow(rs, tender_str(m[i].host),
              (m[i].flags & LS_MNT_RDONLY) ? LS_LL_VOLUME_RO : LS_LL_VOLUME_RW, 1);
    for (unsigned i = 0; i < TENDER_NDEVICES; i++)
        allow(rs, tender_devices[i], LS_LL_DEVICE, 0);
    if (lock->self_fd >= 0) {            /* execve boots this kernel again */
        struct landlock_path_beneath_attr pb = {
            .allowed_access = (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE) & handled,
            .parent_fd = lock->self_fd};
        hsys4(__NR_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, (long)&pb, 0);
    }
    /* The guest's own proc shows only its processes: all of it, so a forked
     * child reads its /proc/self too, and writes what Linux lets an
     * unprivileged container write there (the kernel opens only its
     * synthetic host_rw files to write: a thread's comm, oom_score_adj;
     * the host checks them with the guest's credentials, whose namespaces
     * hold all they can reach).  Where the host's had to be bound instead,
     * only this process's own entries, threads too, read-only. */
    if (own_proc)
        allow(rs, "/proc", LS_LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LS_LL_TRUNCATE,
              1);
    else
        allow(rs, "/proc/self", LS_LL_READ, 1);
    /* The POSIX message queues of the guest's own IPC namespace (mq_open). */
    allow(rs, "/dev/mqueue", LS_LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG |
                                 LANDLOCK_ACCESS_FS_REMOVE_FILE, 1);
    /* The guest's own pseudo-terminals (root.c's devpts instance). */
    allow(rs, LS_DEVPTS, LS_LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LS_LL_IOCTL_DEV, 1);
    /* The host files the synthetic /proc and /sys copy (the kernel's list). */
    for (int i = 0; i < lock->nhost_copies; i++)
        allow(rs, lock->host_copies[i], LS_LL_READ, 0);
    long r = hsys5(__NR_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0);
    if (r == 0)
        r = hsys2(__NR_landlock_restrict_self, rs, 0);
    hsys1(__NR_close, rs);
    return r;
}
