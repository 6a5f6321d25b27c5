/*
 * A program run natively under the sandbox's layers, without libsubst: the
 * floor a guest's server is measured against (benchmarks/servers.py), as
 * `bench syscalls`' container column is for single calls.
 *
 * usage: contained [--ro DIR]... [--rw DIR]... FILTER PROG [ARG...]
 * FILTER is a file of struct sock_filter, the guest's own filter as a
 * native program can run under it (seccomp.container_baseline: the same
 * instructions, its kills and refusals allows), installed as a container
 * runtime installs its filter before exec'ing PROG.  With --ro or --rw,
 * PROG is restricted first with Landlock as the tender restricts a guest
 * (c_src/tender/landlock.c: the same handled rights and scopes, the same
 * rule for each volume, libsubst/landlock_rules.h), DIR being a volume,
 * read-only or read-write; the program's own files, which a guest reads
 * through its image's read-only rules, are granted by one rule on / to
 * read and execute, and the devices a guest gets by the tender's rule for
 * each.  Exits 127 with a message if any step fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "libsubst/landlock_rules.h"

#define MAX_VOLUMES 16

static struct sock_filter filter[BPF_MAXINSNS];

static int add_rule(int rs, const char *path, uint64_t rights, uint64_t handled)
{
    struct landlock_path_beneath_attr rule = {.allowed_access = rights & handled,
                                              .parent_fd = open(path, O_PATH | O_CLOEXEC)};
    if (rule.parent_fd < 0)
        return -1;
    int r = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    return r | close(rule.parent_fd);
}

static int landlock(const char *const *dirs, const uint64_t *rights, int n)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return -1;
    uint64_t handled = ls_landlock_handled_fs(abi);
    struct ls_landlock_ruleset_attr attr = {.handled_access_fs = handled};
    size_t size = 8;
    if (abi >= 6) {
        attr.scoped = LS_LL_SCOPE_ABSTRACT_UNIX_SOCKET | LS_LL_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    int rs = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0 || add_rule(rs, "/", LS_LL_READ | LANDLOCK_ACCESS_FS_EXECUTE, handled) != 0)
        return -1;
    static const char *const devices[] = {LS_LL_DEVICES};
    for (unsigned i = 0; i < sizeof devices / sizeof devices[0]; i++)
        if (access(devices[i], F_OK) == 0 && add_rule(rs, devices[i], LS_LL_DEVICE, handled) != 0)
            return -1;                  /* one absent here: the tender allows nothing either */
    for (int i = 0; i < n; i++)
        if (add_rule(rs, dirs[i], rights[i], handled) != 0)
            return -1;
    if (syscall(SYS_landlock_restrict_self, rs, 0) != 0)
        return -1;
    return close(rs);
}

int main(int argc, char **argv)
{
    const char *dirs[MAX_VOLUMES];
    uint64_t rights[MAX_VOLUMES];
    int n = 0, i = 1;
    for (; i + 1 < argc && n < MAX_VOLUMES; i += 2) {
        if (!strcmp(argv[i], "--ro"))
            rights[n] = LS_LL_VOLUME_RO;
        else if (!strcmp(argv[i], "--rw"))
            rights[n] = LS_LL_VOLUME_RW;
        else
            break;
        dirs[n++] = argv[i + 1];
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: contained [--ro DIR]... [--rw DIR]... FILTER PROG [ARG...]\n");
        return 2;
    }
    FILE *f = fopen(argv[i], "rb");
    size_t len = f ? fread(filter, sizeof filter[0], BPF_MAXINSNS, f) : 0;
    if (f)
        fclose(f);
    struct sock_fprog prog = {.len = (unsigned short)len, .filter = filter};
    const char *step = len == 0 ? "the seccomp filter's file"
                       : prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ? "no_new_privs"
                       : n && landlock(dirs, rights, n) != 0 ? "Landlock"
                       : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0
                           ? "the seccomp filter" : NULL;
    if (!step)
        execvp(argv[i + 1], argv + i + 1);
    fprintf(stderr, "contained: %s: %s\n", step ? step : argv[i + 1], strerror(errno));
    return 127;
}
