/*
 * Synthetic paths to nodes of the table (synth.c).
 *
 * /proc/self is a symlink to /proc/<pid> (the host pid: fs_pid), as in Linux;
 * /proc/thread-self to <pid>/task/<tid>, whose entries are those of
 * /proc/<pid> (the thread's own stat, status, comm) but no task directory;
 * /proc/<tid> (unlisted, as on Linux) has them and a task directory, its
 * thread group's (which its listing leaves out).  The guest's other processes
 * are listed and shown as Linux shows them (synth_proc.c).
 * /proc/<pid>/fd/N is a symlink to the guest path fd N was opened by; an fd
 * with no guest path (stdio, a pipe, a socket) is a host object, reached by
 * reopening the host's /proc/self/fd/N, and reads as the host's readlink
 * ("pipe:[123]") (synth_node.c).
 */
#include "synth.h"
#include "proc/proc.h"
#include <asm/ioctls.h>

long fs_pid(void)
{
    return sys_getpid();                /* kept until a fork */
}

/* Whether the guest shows /dev/tty: while its fd 0 is a terminal, or the
 * caller has a controlling terminal (a session that took one of its own
 * pseudo-terminals with TIOCSCTTY), which the host's /dev/tty then opens. */
int synth_have_tty(void)
{
    unsigned long termios[8];
    if (hsys3(__NR_ioctl, 0, TCGETS, (long)termios) >= 0)
        return 1;
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)"/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC, 0);
    if (fd >= 0)
        hsys1(__NR_close, fd);
    return fd >= 0;
}

int synth_is_prefix(const char *p)
{
    return synth_tree_of(p) >= 0;
}

int synth_in_proc(const char *p)
{
    return synth_under(p, "/proc");
}

/* Parses a decimal number that runs to the end of s or to a '/'. */
long synth_parse_num(const char **s)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 0x7fffffff)
            return -1;
    }
    if (*p && *p != '/')
        return -1;
    *s = p;
    return v;
}

/* s: what follows /proc/<pid> (or /proc/<pid>/task/<tid>), o->arg already
 * the thread's; an entry of the table, an fd link or an fdinfo file. */
static int lookup_below_pid(const char *s, struct fs_obj *o)
{
    int i = synth_pfind(s);
    if (i >= 0) {
        o->ent = SID_P + i;
        return 0;
    }
    if (strncmp(s, "/fd/", 4) == 0) {
        s += 4;
        long fd = synth_parse_num(&s);
        if (fd >= 0 && !*s && fd_valid(fd) && fd_host_open(fd)) {
            o->ent = SID_FDLINK;
            o->arg = fd;
            return 0;
        }
    }
    if (strncmp(s, "/fdinfo/", 8) == 0) {
        s += 8;
        long fd = synth_parse_num(&s);
        if (fd >= 0 && !*s && fd_valid(fd) && fd_host_open(fd)) {
            o->ent = SID_FDINFO;
            o->arg = synth_arg(0, fd);
            return 0;
        }
    }
    return -ENOENT;
}

int synth_lookup(const char *p, struct fs_obj *o)
{
    o->type = FO_SYNTH;
    o->arg = 0;
    if (strncmp(p, "/proc/", 6) == 0 && p[6] >= '0' && p[6] <= '9') {
        const char *s = p + 6;
        long pid = synth_parse_num(&s);
        if (pid != fs_pid()) {
            /* Another thread of the process by its tid: not listed in /proc
             * but there, as on Linux, with that thread's entries; its task
             * directory is its thread group's (psutil's threads() of a tid). */
            if (pid > 0 && hsys3(__NR_tgkill, fs_pid(), pid, 0) < 0)
                return synth_lookup_other(pid, s, o);
            if (pid <= 0)
                return -ENOENT;
            if (strncmp(s, "/task", 5) != 0)
                o->arg = pid;
        }
        if (!o->arg && strncmp(s, "/task/", 6) == 0) {
            /* A thread of the process: the host's tid (the pid namespace's). */
            s += 6;
            long tid = synth_parse_num(&s);
            if (tid <= 0 || hsys3(__NR_tgkill, fs_pid(), tid, 0) < 0 ||
                strncmp(s, "/task", 5) == 0)
                return -ENOENT;
            o->arg = tid;
        }
        return lookup_below_pid(s, o);
    }
    if (strncmp(p, "/sys/class/net/", 15) == 0)
        return synth_netif_lookup(p + 15, o);
    int i = synth_gfind(p);
    if (i < 0 || (strcmp(p, "/dev/tty") == 0 && !synth_have_tty()))
        return -ENOENT;
    o->ent = i;
    return 0;
}
