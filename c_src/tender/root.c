/*
 * The guest's root file system, made in its mount namespace: an empty,
 * read-only tmpfs holding only the image's host files (read-only, each at
 * LS_HOST_FILE_FMT with its entry's index: handover.h says why) and its
 * data files (their bytes written there, at the same kind of path), and, each
 * at its host path, the declared volumes, the scratch mounts, a few device
 * nodes, the host's sysfs trees (handover.h's LS_HOST_TREES),
 * /sys/kernel/mm/transparent_hugepage and a proc of the guest's pid
 * namespace.
 */
#include "tender.h"
#include <linux/mount.h>
#include "libsubst/landlock_rules.h"

#define MNT_DETACH 2                 /* umount2(2); <sys/mount.h> is the host libc's */

/* Calls fn(path, where, is_dir, ro, arg) for each, in the order the relay
 * idmaps them and the guest mounts them: image files, then volumes
 * (parents first: the monitor sorts them by host path).  Scratch mounts
 * are no host path: make_root makes them. */
int tender_for_each_source(long (*fn)(const char *, const char *, int, int, void *), void *arg)
{
    const struct ls_fs_entry *e = tender_entries();
    char where[LS_HOST_FILE_PATH_MAX];
    for (uint32_t i = 0; i < tender_bi->nentries; i++) {
        if (e[i].kind != LS_ENT_HOST_FILE)
            continue;
        ksnprintf(where, sizeof where, LS_HOST_FILE_FMT, i);
        if (fn(tender_str(e[i].target), where, 0, 1, arg) < 0)
            return -1;
    }
    const struct ls_mount *m = tender_mounts();
    for (uint32_t i = 0; i < tender_bi->nmounts; i++)
        if (!(m[i].flags & LS_MNT_SCRATCH) &&
            fn(tender_str(m[i].host), tender_str(m[i].host), 1, m[i].flags & LS_MNT_RDONLY,
               arg) < 0)
            return -1;
    return 0;
}

/* A detached copy of the mount tree at path (a recursive bind, so a
 * volume keeps the mounts below it), read-only if ro, idmapped into userns
 * if userns >= 0 and its file systems allow (*idmapped says whether). */
long tender_clone_tree(const char *path, int ro, long userns, int *idmapped)
{
    long t = hsys3(__NR_open_tree, AT_FDCWD, (long)path,
                   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (t < 0)
        return t;
    struct mount_attr a = {.attr_set = ro ? MOUNT_ATTR_RDONLY : 0, .userns_fd = userns};
    if (userns >= 0) {
        a.attr_set |= MOUNT_ATTR_IDMAP;
        if (hsys5(__NR_mount_setattr, t, (long)"", AT_EMPTY_PATH | AT_RECURSIVE, (long)&a,
                  sizeof a) == 0) {
            *idmapped = 1;
            return t;
        }
        a.attr_set &= ~MOUNT_ATTR_IDMAP;     /* seen as nobody's, but there */
    }
    long r = 0;
    if (a.attr_set &&
        (r = hsys5(__NR_mount_setattr, t, (long)"", AT_EMPTY_PATH | AT_RECURSIVE, (long)&a,
                   sizeof a)) < 0) {
        hsys1(__NR_close, t);
        return r;
    }
    return t;
}

/* mkdir -p of rel's parents (and rel itself if dir) beneath root; a
 * component that exists is fine. */
static long make_path(int root, char *rel, int dir)
{
    for (char *p = rel; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        long r = hsys3(__NR_mkdirat, root, (long)rel, 0755);
        *p = '/';
        if (r < 0 && r != -EEXIST)
            return r;
    }
    long r = dir ? hsys3(__NR_mkdirat, root, (long)rel, 0755)
                 : hsys4(__NR_openat, root, (long)rel, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (r >= 0 && !dir)
        hsys1(__NR_close, r);
    return r == -EEXIST && dir ? 0 : r;
}

struct view {
    int root;                        /* the new root, attached */
    const int *fds;                  /* the relay's idmapped trees, or NULL */
    int next;
};

static long place(const char *path, const char *where, int is_dir, int ro, void *arg)
{
    struct view *v = arg;
    int unused;
    long src = v->fds ? v->fds[v->next++] : tender_clone_tree(path, ro, -1, &unused);
    char rel[TENDER_PATH_MAX];
    if (src < 0 && src != -ENOENT)
        tender_warn("cannot bind %s into the guest's mount namespace: error %ld", path, -src);
    if (src < 0 || where[0] != '/' || strlcpy(rel, where + 1, sizeof rel) >= sizeof rel)
        goto skip;                   /* absent on the host: the guest gets ENOENT */
    long r = make_path(v->root, rel, is_dir);
    if (r == -EEXIST)
        goto skip;                   /* a volume listed twice */
    if (r >= 0)
        r = hsys5(__NR_move_mount, src, (long)"", v->root, (long)rel, MOVE_MOUNT_F_EMPTY_PATH);
    if (r < 0) {
        tender_warn("cannot show %s in the guest's mount namespace: error %ld", path, -r);
        hsys1(__NR_close, src);
        return -1;
    }
skip:
    if (src >= 0)
        hsys1(__NR_close, src);
    return 0;
}

/* A host sysfs tree (ls_for_each_host_tree), read-only. */
static int place_tree(const char *path, void *view)
{
    return place(path, path, 1, 1, view) < 0 ? -1 : 0;
}

const char *const tender_devices[TENDER_NDEVICES] = {LS_LL_DEVICES};

/* A new mount of file system `type` (of the guest's own namespaces) at rel
 * beneath root: 0; or, if the host refuses one, a bind of `fallback`: 1. */
static long mount_new(int root, const char *type, const char *rel, const char *fallback)
{
    char dir[64];
    strlcpy(dir, rel, sizeof dir);
    make_path(root, dir, 1);
    long t = -1, fs = hsys2(__NR_fsopen, (long)type, FSOPEN_CLOEXEC);
    if (fs >= 0 && hsys5(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0) == 0)
        t = hsys3(__NR_fsmount, fs, FSMOUNT_CLOEXEC,
                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (fs >= 0)
        hsys1(__NR_close, fs);
    int bound = t < 0 && fallback;
    if (bound)
        t = hsys3(__NR_open_tree, AT_FDCWD, (long)fallback,
                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (t < 0)
        return t;
    long r = hsys5(__NR_move_mount, t, (long)"", root, (long)rel, MOVE_MOUNT_F_EMPTY_PATH);
    hsys1(__NR_close, t);
    return r < 0 ? r : bound;
}

/* The guest's pseudo-terminals (LS_DEVPTS): a devpts instance of its own
 * (every new devpts mount is one since Linux 4.7; its user namespace owns
 * it), never the host's /dev/pts, so the guest sees and opens only the
 * terminals it made.  Its ptmx is open to all (ptmxmode), and /dev/ptmx
 * links to it, as in a container.  Not nodev: its nodes are the point. */
static long mount_devpts(int root)
{
    char rel[] = LS_DEVPTS;
    long t = -1, r, fs = hsys2(__NR_fsopen, (long)"devpts", FSOPEN_CLOEXEC);
    if (fs < 0)
        return fs;
    if ((r = hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"ptmxmode", (long)"0666",
                   0)) == 0 &&
        (r = hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"mode", (long)"0620", 0)) == 0 &&
        (r = hsys5(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0)) == 0)
        r = t = hsys3(__NR_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    hsys1(__NR_close, fs);
    if (r >= 0 && (r = make_path(root, rel + 1, 1)) >= 0)
        r = hsys5(__NR_move_mount, t, (long)"", root, (long)(rel + 1), MOVE_MOUNT_F_EMPTY_PATH);
    if (t >= 0)
        hsys1(__NR_close, t);
    if (r >= 0)
        r = hsys3(__NR_symlinkat, (long)"pts/ptmx", root, (long)"dev/ptmx");
    return r;
}

/* A scratch mount (LS_MNT_SCRATCH): a tmpfs of the guest's own at its
 * `host` path beneath root, world-writable and sticky as /tmp is (or of
 * the mode and group the mount gives: a state directory's), at most
 * size_mib MiB (past it, ENOSPC; its pages are charged to the guest's
 * memory cgroup as they are written), holding the mount points of the
 * volumes below its guest path.  The guest cannot resize it: mount(2) is
 * allowed only at boot (hostcalls.BOOT_ONLY).  None is noexec: the
 * writable root's layer (guest "/") holds the image's programs and
 * libraries it copies up, and a program the guest writes into it or into
 * /tmp runs, and a file there maps PROT_EXEC, as on a host's root and /tmp
 * (gzexe, CPython's test_mmap) — the kernel maps the guest's programs
 * itself, and Landlock grants no volume the execute right, so the host
 * executes none of them. */
static long mount_scratch(int root, const struct ls_mount *sm)
{
    char opt[24], mode[8], gid[16], rel[TENDER_PATH_MAX];
    long t = -1, r, fs = hsys2(__NR_fsopen, (long)"tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0)
        return fs;
    ksnprintf(opt, sizeof opt, "%um", sm->size_mib);
    ksnprintf(mode, sizeof mode, "%o", sm->mode ? sm->mode & 07777 : 01777);
    ksnprintf(gid, sizeof gid, "%u", sm->gid);
    const char *guest = tender_str(sm->guest);
    if ((r = hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"mode", (long)mode, 0)) == 0 &&
        (!sm->gid ||
         (r = hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"gid", (long)gid, 0)) == 0) &&
        (!sm->size_mib ||
         (r = hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"size", (long)opt, 0)) == 0) &&
        (r = hsys5(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0)) == 0)
        r = t = hsys3(__NR_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    hsys1(__NR_close, fs);
    if (r < 0)
        return r;
    size_t gl = strlen(guest);
    const struct ls_mount *m = tender_mounts();
    for (uint32_t i = 0; i < tender_bi->nmounts && r >= 0; i++)
        if (strncmp(tender_str(m[i].guest), guest, gl) == 0 && tender_str(m[i].guest)[gl] == '/' &&
            strlcpy(rel, tender_str(m[i].guest) + gl + 1, sizeof rel) < sizeof rel)
            r = make_path(t, rel, 1);
    const char *host = tender_str(sm->host);
    if (r >= 0 && (host[0] != '/' || strlcpy(rel, host + 1, sizeof rel) >= sizeof rel))
        r = -EINVAL;
    if (r >= 0 && (r = make_path(root, rel, 1)) >= 0)
        r = hsys5(__NR_move_mount, t, (long)"", root, (long)rel, MOVE_MOUNT_F_EMPTY_PATH);
    hsys1(__NR_close, t);
    return r;
}

/* The image's data files (LS_ENT_DATA_FILE: the generated /etc files),
 * each written at LS_HOST_FILE_FMT with its index, mode 0444: the kernel
 * opens one as it opens a host file, in one host openat of a short path
 * (handover.h), and every process of the guest opens the same file, as
 * natively: a lock one program holds on it stops another's.  The root is
 * made read-only after this, so no guest process can change their bytes. */
static long place_data(int root)
{
    const struct ls_fs_entry *e = tender_entries();
    char where[LS_HOST_FILE_PATH_MAX];
    for (uint32_t i = 0; i < tender_bi->nentries; i++) {
        if (e[i].kind != LS_ENT_DATA_FILE)
            continue;
        ksnprintf(where, sizeof where, LS_HOST_FILE_FMT, i);
        long r = make_path(root, where + 1, 0);
        long fd = r < 0 ? r : hsys4(__NR_openat, root, (long)(where + 1), O_WRONLY | O_CLOEXEC, 0);
        if (fd < 0)
            return fd;
        r = kwrite_all(fd, (const char *)tender_bi + e[i].data_off, e[i].data_size);
        if (r >= 0)
            r = hsys2(__NR_fchmod, fd, 0444);
        hsys1(__NR_close, fd);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The root tmpfs's size: 1 MiB for its directories, and the data files. */
static void root_size(char *opt, size_t n)
{
    const struct ls_fs_entry *e = tender_entries();
    unsigned long kib = 1024;
    for (uint32_t i = 0; i < tender_bi->nentries; i++)
        if (e[i].kind == LS_ENT_DATA_FILE)
            kib += (e[i].data_size + 4095) / 4096 * 4;
    ksnprintf(opt, n, "%luk", kib);
}

static void __attribute__((noreturn)) no_root(long err)
{
    tender_fatal("cannot make the guest's root: error %ld%s", err,
                 err == EPERM ? " (the host refuses mounts in a user namespace: is there an "
                                "AppArmor or SELinux rule against unprivileged user "
                                "namespaces?)" : "");
}

int tender_make_root(const int *fds)
{
    long r = hsys5(__NR_mount, 0, (long)"/", 0, MS_REC | MS_PRIVATE, 0);
    long fs = r < 0 ? r : hsys2(__NR_fsopen, (long)"tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0)
        no_root(-fs);
    hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"mode", (long)"0755", 0);
    char size[24];
    root_size(size, sizeof size);
    hsys5(__NR_fsconfig, fs, FSCONFIG_SET_STRING, (long)"size", (long)size, 0);
    r = hsys5(__NR_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0);
    long root = r < 0 ? r : hsys3(__NR_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID);
    hsys1(__NR_close, fs);
    /* Attached over /, so the binds below can be moved into it. */
    if (root < 0 || (r = hsys5(__NR_move_mount, root, (long)"", AT_FDCWD, (long)"/",
                               MOVE_MOUNT_F_EMPTY_PATH)) < 0)
        no_root(-(root < 0 ? root : r));

    /* Devices, /sys and /proc, then the image files and the volumes: only
     * then are all the directories made here the tmpfs's, never a volume's. */
    struct view own = {.root = root};
    for (unsigned i = 0; i < TENDER_NDEVICES; i++)   /* read-only: no host device's times or mode */
        place(tender_devices[i], tender_devices[i], 0, 1, &own);
    ls_for_each_host_tree(place_tree, &own);
    place("/sys/kernel/mm/transparent_hugepage", "/sys/kernel/mm/transparent_hugepage", 1, 1, &own);
    /* A proc of the guest's pid namespace (a bind of the host's where the
     * host hides parts of its own: mount_too_revealing refuses a new one),
     * and the POSIX message queues of its IPC namespace. */
    if ((r = mount_new(root, "proc", "proc", "/proc")) < 0)
        tender_fatal("cannot mount the guest's /proc: error %ld", -r);
    int own_proc = r == 0;
    if ((r = mount_new(root, "mqueue", "dev/mqueue", 0)) < 0)
        tender_warn("no POSIX message queues: cannot mount the guest's mqueue: error %ld", -r);
    if ((r = mount_devpts(root)) < 0)
        tender_warn("no pseudo-terminals: cannot mount the guest's devpts: error %ld", -r);
    const struct ls_mount *m = tender_mounts();
    for (uint32_t i = 0; i < tender_bi->nmounts; i++)
        if ((m[i].flags & LS_MNT_SCRATCH) && (r = mount_scratch(root, &m[i])) < 0)
            tender_fatal("cannot make the guest's %s: error %ld", tender_str(m[i].guest), -r);
    if (tender_for_each_source(place, &(struct view){.root = root, .fds = fds}) < 0)
        tender_fatal("cannot make the guest's mount namespace");
    if ((r = place_data(root)) < 0)
        tender_fatal("cannot write the image's generated files: error %ld", -r);

    struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
    hsys5(__NR_mount_setattr, root, (long)"", AT_EMPTY_PATH, (long)&ro, sizeof ro);
    if ((r = hsys1(__NR_fchdir, root)) < 0 ||
        (r = hsys2(__NR_pivot_root, (long)".", (long)".")) < 0 ||
        (r = hsys2(__NR_umount2, (long)".", MNT_DETACH)) < 0)
        tender_fatal("cannot enter the guest's root: error %ld", -r);
    hsys1(__NR_chdir, (long)"/");
    hsys1(__NR_close, root);
    return own_proc;
}

