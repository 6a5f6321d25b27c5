/*
 * Identity changes: the set*id calls, made on the host process
 * (the guest's user namespace bounds them), and the guest's first process's
 * parent-death signal, which they would clear.
 *
 * The guest's first process (pid 1 of its pid namespace) ends when the relay,
 * its parent outside the guest, dies: the tender arms PR_SET_PDEATHSIG with
 * SIGKILL, and the relay's own dies with the supervisor.  Linux clears a
 * process's parent-death signal whenever its effective or file-system uid or
 * gid changes (commit_creds; capset cannot add to the permitted set, the
 * other cause), so a first process
 * that changes its ids (memcached -u, a server dropping root, the tender's
 * --user) would outlive a supervisor killed with SIGKILL.  Each call below
 * arms it again where it changed one of those ids; a relay that dies between the host's
 * change and that prctl (a few instructions) is not seen.
 */
#include "proc/proc.h"
#include "fs/fs.h"
#include <linux/prctl.h>

/* What the guest's first process set with PR_SET_PDEATHSIG itself, which
 * PR_GET_PDEATHSIG answers; the host's stays SIGKILL.  Cleared by an id
 * change, as Linux clears it. */
static long guest_pdeath;

/* Whether this process is the guest's first, under the sandbox: its parent
 * is outside the guest's pid namespace (its parent's pid is 0).  Without the
 * sandbox (benchmarks only) no parent-death signal was armed. */
int proc_is_first(void)
{
    return !(K.bi->flags & LS_BOOT_NO_POLICY) && proc_parent() == 0;
}

/* The ids whose change clears a parent-death signal; setfsuid(-1) and
 * setfsgid(-1) answer the current ones and change nothing. */
struct watched_ids {
    long euid, egid, fsuid, fsgid;
};

static struct watched_ids watched(void)
{
    return (struct watched_ids){hsys0(__NR_geteuid), hsys0(__NR_getegid),
                                hsys1(__NR_setfsuid, -1), hsys1(__NR_setfsgid, -1)};
}

/* After an id call of the first process that answered r: the host's signal
 * armed again, the guest's own cleared where Linux clears it (an id above
 * changed). */
static long rearm(long r, const struct watched_ids *before)
{
    struct watched_ids now = watched();
    if (now.euid != before->euid || now.egid != before->egid ||
        now.fsuid != before->fsuid || now.fsgid != before->fsgid) {
        guest_pdeath = 0;
        hsys2(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL);
    }
    return r;
}

/* The host call nr with its arguments, keeping the first process's
 * parent-death signal.  Inlined so that each call's number is a constant
 * at its site, where `libsubst pack --specialize` reads it. */
static inline __attribute__((always_inline)) long id_call(long nr, long a, long b, long c)
{
    long r;
    if (!proc_is_first()) {
        r = hsys3(nr, a, b, c);
    } else {
        struct watched_ids before = watched();
        r = rearm(hsys3(nr, a, b, c), &before);
    }
    /* The writable root's cached absences answered without the host's
     * search-permission check, which the new ids may fail: forgotten. */
    upper_changed();
    return r;
}

/* PR_SET_PDEATHSIG and PR_GET_PDEATHSIG of the guest's first process (see
 * sys_prctl): the guest's value is kept, the host's stays SIGKILL.  Returns
 * 1 where the call is not that process's. */
long proc_first_pdeath(long op, long sig, int *where)
{
    if (!proc_is_first())
        return 1;
    if (op == PR_SET_PDEATHSIG) {
        if (sig < 0 || sig > 64)
            return -EINVAL;
        guest_pdeath = sig;
        return 0;
    }
    int v = (int)guest_pdeath;
    return copy_to_user(where, &v, sizeof v);
}

/* Implements setuid(2), made on the host. */
long sys_setuid(long uid)
{
    return id_call(__NR_setuid, uid, 0, 0);
}

/* Implements setgid(2), made on the host. */
long sys_setgid(long gid)
{
    return id_call(__NR_setgid, gid, 0, 0);
}

/* Implements setreuid(2), made on the host. */
long sys_setreuid(long ruid, long euid)
{
    return id_call(__NR_setreuid, ruid, euid, 0);
}

/* Implements setregid(2), made on the host. */
long sys_setregid(long rgid, long egid)
{
    return id_call(__NR_setregid, rgid, egid, 0);
}

/* Implements setresuid(2), made on the host. */
long sys_setresuid(long ruid, long euid, long suid)
{
    return id_call(__NR_setresuid, ruid, euid, suid);
}

/* Implements setresgid(2), made on the host. */
long sys_setresgid(long rgid, long egid, long sgid)
{
    return id_call(__NR_setresgid, rgid, egid, sgid);
}

/* Implements setfsuid(2), made on the host (it answers the previous fsuid). */
long sys_setfsuid(long fsuid)
{
    return id_call(__NR_setfsuid, fsuid, 0, 0);
}

/* Implements setfsgid(2), made on the host (it answers the previous fsgid). */
long sys_setfsgid(long fsgid)
{
    return id_call(__NR_setfsgid, fsgid, 0, 0);
}

