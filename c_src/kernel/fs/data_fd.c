/*
 * The image's data files (LS_ENT_DATA_FILE: the generated /etc files --
 * passwd, group, nsswitch.conf, hostname, an image's hosts) without the
 * sandbox, opened in one host call.  (Under the sandbox the tender wrote
 * each into the guest's read-only root, and they are opened there as a host
 * file is: img_on_host.)  Their bytes lie in the sealed boot info, fixed
 * for the boot, and getpwnam or getaddrinfo opens some of them on every
 * call; exec maps (open.c's text) and copy-ups read them from there.  The first
 * open in a process makes a sealed memfd of the file and keeps it among the
 * kernel's own fds (kfd_hide: close-on-exec, out of the guest's reach);
 * every open is then the host's openat of /proc/self/fd/K with the guest's
 * flags: a description of its own, read-only, at the lowest free number,
 * as Linux's open gives -- where a memfd made per open cost a create, a
 * write, three calls to seal it and three to reopen it read-only.
 *
 * At most DATA_KEPT files are kept (the reserve is the volumes' too); any
 * other, or any open when the reserve is full or another thread is
 * filling a slot (a guest handler may interrupt that thread), makes its
 * memfd per open as before.  A slot once filled names its entry for the
 * process's life and its forks': nothing is evicted, so no process can
 * find another file at a number it kept.  Each kept memfd is sealed
 * (F_SEAL_WRITE, _GROW, _SHRINK, _SEAL) and the guest's fds are
 * read-only descriptions of it: nothing the guest can do changes the
 * bytes another open reads, and its mode is 0444 so that a process that
 * changes its uid can still open it (the mode the guest sees is the
 * image's: img_fix_stat).
 */
#include "fs.h"

#define DATA_KEPT 8

static struct {
    int ent, fd;
} kept[DATA_KEPT];
static int nkept, kept_lock;

static long data_memfd(int ent, int cloexec, unsigned mode)
{
    const struct ls_fs_entry *e = img_ent(ent);
    char name[64];
    strlcpy(name, path_base(img_path(ent)), sizeof name);
    return fs_sealed_memfd(name, K.blk + e->data_off, e->data_size, cloexec, mode);
}

long img_data_memfd(int ent, int cloexec)
{
    return data_memfd(ent, cloexec, img_ent(ent)->mode & 07777);
}

static int kept_fd(int ent)
{
    int n = __atomic_load_n(&nkept, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++)
        if (kept[i].ent == ent)
            return kept[i].fd;
    return -1;
}

/* The kept memfd of ent, made now if there is room; -1 if none. */
static int keep(int ent)
{
    int fd = kept_fd(ent);
    if (fd >= 0 || __atomic_load_n(&nkept, __ATOMIC_RELAXED) == DATA_KEPT ||
        __atomic_exchange_n(&kept_lock, 1, __ATOMIC_ACQUIRE))
        return fd;
    fd = kept_fd(ent);                  /* another thread's, made meanwhile */
    if (fd < 0 && nkept < DATA_KEPT) {
        long m = data_memfd(ent, 1, 0444);
        long soft = kfd_room_begin();   /* the reserve lies above the guest's soft limit */
        long k = m < 0 ? m : kfd_hide(m);
        kfd_room_end(soft);
        if (k >= 0) {
            kept[nkept].ent = ent;
            kept[nkept].fd = fd = k;
            __atomic_store_n(&nkept, nkept + 1, __ATOMIC_RELEASE);
        } else if (m >= 0) {
            hsys1(__NR_close, m);       /* no room in the reserve: per open */
        }
    }
    kspin_unlock(&kept_lock);
    return fd;
}

void data_file_after_fork(void)
{
    kept_lock = 0;                      /* the parent's thread that held it is not here */
}

long data_file_open(int ent, int flags, int *kf)
{
    int k = keep(ent);
    if (k < 0)
        return fs_reopen(img_data_memfd(ent, flags & O_CLOEXEC), flags, kf);
    *kf = flags & O_NOFOLLOW ? KF_F_ADD_NOFOLLOW : 0;
    char hp[40];
    ksnprintf(hp, sizeof hp, "/proc/self/fd/%d", k);
    return hsys4(__NR_openat, AT_FDCWD, (long)hp, O_RDONLY | (flags & FS_REOPEN_FLAGS), 0);
}
