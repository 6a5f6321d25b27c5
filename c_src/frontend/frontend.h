/*
 * The native front end: the `libsubst` command.  `libsubst run ...` whose
 * plan an earlier identical run left in the plan cache (plancache.h) boots
 * the guest here, without Python; everything else execs the Python CLI
 * (libsubst-py beside this executable) with the same argv and environment.
 * Host libc: this is an ordinary program, not part of the guest kernel.
 */
#ifndef LIBSUBST_FRONTEND_H
#define LIBSUBST_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *p;
    size_t n, cap;
};

void buf_add(struct buf *b, const void *data, size_t n);
void buf_str(struct buf *b, const char *s);    /* s and its NUL */

/* A valid cache entry, read whole. */
struct entry {
    char *data;
    size_t size;
    const struct ls_plan_head *head;
};

/* entry.c: the entry for `key` if every dependency holds, else 0 (-1: a miss). */
int entry_read(const struct buf *key, struct entry *out);
const char *entry_string(const struct entry *e, uint32_t off);
/* Item i of an entry's list of string offsets at `at` (checked by entry_read); 0 if bad. */
const char *entry_item(const struct entry *e, uint32_t at, uint32_t i);

/* env.c: whether the variables planning read are unchanged; the guest's
 * environment (LS_PLAN_CALLER_ENV) and its argv (the entry's first
 * argv_keep, then the caller's `args`) appended to a boot-info block. */
int env_deps_hold(const struct entry *e, char **envp);
void guest_env(const struct entry *e, char **envp, struct buf *block);
void guest_argv(const struct entry *e, char **args, int nargs, struct buf *block);

/* boot.c: boots the entry's guest with the program's arguments `args` and
 * execs the supervisor (supervise.c) as Guest.hand_over does; returns only
 * when the supervisor cannot run. */
void boot_and_supervise(struct entry *e, char **envp, char **args, int nargs);

/* main.c: CLOCK_MONOTONIC ns at main's start (the benchmarks' breakdown). */
long long monotonic_ns(void);
extern long long started_ns;

/* main.c: execs the Python CLI with argv (never returns). */
void exec_python(char **argv) __attribute__((noreturn));
/* The standard fds closed when the front end started (bit n: fd n), which
 * it holds with /dev/null (main.c). */
extern int held_stdio;

/* fds.c: the caller's fds the program inherits (ascending): those open
 * as main starts found; those the entry's preserve_fds passes taken (0:
 * the Python CLI must start this run); dropped from this process once the
 * guest has them. */
extern int *caller_fds, ncaller_fds;
void caller_fds_find(void);
int caller_fds_take(unsigned preserve);
void caller_fds_drop(void);

#endif
