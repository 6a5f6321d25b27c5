/*
 * open(2) and friends, the loader's open, and file-system start-up.
 *
 * What an open returns, by what the walk found:
 *   volume path   the host fd opened beneath the mount root;
 *   image file    HOST_FILE: the host file at `target`, read-only;
 *                 DATA_FILE: a read-only open of the sealed memfd the
 *                 process keeps of the bytes (data_fd.c);
 *                 IMAGE_FILE: a dup of the packed image's fd, marked
 *                 KF_F_BASED (its bytes are a window of the image: see
 *                 read_write.c); O_PATH gives a placeholder fd;
 *   image dir     a dup of the kernel's read-only (or O_PATH) placeholder, with a
 *                 KF_IMAGE entry (getdents, fstat, fchdir and the *at calls know it
 *                 by that) holding its status flags;
 * so that each shows the guest's open flags (F_GETFL, fdinfo, its fd link).
 *   synthetic     see synth_open.
 * With --read-only the image is a read-only root: write access, O_TRUNC or
 * creating a file in it fails with EROFS.  Otherwise the writable root's
 * layer (upper.c) serves the names, and an image file opened for writing
 * is copied up first.
 */
#include "fs.h"
#include "proc/ptable.h"

static int wants_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) ||
           (flags & __O_TMPFILE) == __O_TMPFILE;
}

/* A dup, as cheap as an open gets (a reopen through /proc would cost a
 * directory's open several times over): its status flags are the entry's
 * (fs_placeholder_fl), not the description every placeholder shares. */
long fs_placeholder_open(int flags, int *kf)
{
    /* Without O_PATH only a directory is opened as a placeholder. */
    *kf = (flags & O_NOFOLLOW ? KF_F_ADD_NOFOLLOW : 0) |
          (flags & O_DIRECTORY ? KF_F_ADD_DIRECTORY : 0) | (flags & O_PATH ? 0 : KF_F_DIR);
    return hsys3(__NR_fcntl, flags & O_PATH ? fs_placeholder_path_fd : fs_placeholder_fd,
                 flags & O_CLOEXEC ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
}

long fs_placeholder_fl(long fd, int flags)
{
    struct kofd *o = fd >= 0 && !(flags & O_PATH) ? fd_get(fd) : 0;
    if (o)
        o->fl = flags & FS_SETFL_FLAGS & ~O_DIRECT;
    kofd_put(o);
    return fd;
}

static long open_image(struct fs_node *n, int flags)
{
    int ent = n->o.ent;
    int kind = img_kind(ent);
    int cloexec = flags & O_CLOEXEC;
    int kf;
    if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
        return -EEXIST;
    if (kind == LS_ENT_DIR) {
        if ((flags & __O_TMPFILE) == __O_TMPFILE)
            return -EROFS;
        if (!(flags & O_PATH) && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT)))
            return -EISDIR;
        long fd = fs_placeholder_open(flags, &kf);
        return fs_placeholder_fl(fs_install_image(fd, KF_IMAGE, kf, 0, n), flags);
    }
    if (flags & O_DIRECTORY)
        return -ENOTDIR;
    if (kind == LS_ENT_SYMLINK) {
        /* Reached only with O_NOFOLLOW: Linux opens the link itself for O_PATH. */
        if (!(flags & O_PATH))
            return -ELOOP;
        long fd = fs_placeholder_open(flags, &kf);
        return fs_placeholder_fl(fs_install_image(fd, KF_IMAGE, kf, 0, n), flags);
    }
    if (!(flags & O_PATH) && wants_write(flags))
        return -EROFS;
    long fd;
    if (kind == LS_ENT_IMAGE_FILE) {
        if (flags & O_PATH) {
            fd = fs_placeholder_open(flags, &kf);
            return fs_placeholder_fl(fs_install_image(fd, KF_IMAGE, kf, 0, n), flags);
        }
        /* The image fd's flags are not the guest's: fd.c answers from arg. */
        kf = flags & O_NOFOLLOW ? KF_F_ADD_NOFOLLOW : 0;
        return fs_install_image(img_file_fd(ent, cloexec), KF_HOST,
                                KF_F_IMAGE | KF_F_BASED | kf, flags & FS_BASED_FLAGS, n);
    }
    if (img_on_host(ent)) {
        /* Not O_NOATIME: the host file is not the guest's user's (EPERM). */
        char hp[LS_HOST_FILE_PATH_MAX];
        kf = flags & O_NOFOLLOW ? KF_F_ADD_NOFOLLOW : 0;
        fd = hsys4(__NR_openat, AT_FDCWD, (long)img_host_path(ent, hp),
                   O_RDONLY | (flags & FS_REOPEN_FLAGS & ~O_NOATIME), 0);
    } else {
        fd = data_file_open(ent, flags, &kf);
    }
    return fs_install_image(fd, KF_HOST, KF_F_IMAGE | kf, 0, n);
}

/* Why a read-only volume cannot give n for writing or creating: Linux
 * resolves the path first, so a missing file is ENOENT (unless O_CREAT
 * would make it) and a missing directory on the way ENOENT too; only then
 * EROFS.  In a host sysfs tree (LS_HOST_TREES) the caller's permission
 * comes before that, as in Linux's open: the host's access(2) checks both,
 * in that order (EACCES for a user writing a 0444 attribute). */
static long ro_error(struct fs_node *n, int flags)
{
    long fd = vol_path(n, 0);
    if (fd >= 0) {
        long r = -EROFS;
        if (fs_mnt[n->o.ent].sys)
            r = hsys4(__NR_faccessat2, fd, (long)"", 2 /* W_OK */, AT_EACCESS | AT_EMPTY_PATH);
        hsys1(__NR_close, fd);
        return r < 0 ? r : -EROFS;
    }
    if (fd != -ENOENT || !(flags & O_CREAT))
        return fd;
    const char *name;
    long dir = vol_parent(n, &name);
    if (dir < 0)
        return dir;
    hsys1(__NR_close, dir);
    return -EROFS;
}

static long open_volume(struct fs_node *n, int flags, int mode)
{
    long fd;
    int nofollow = flags & O_NOFOLLOW ? 0 : KF_F_NOFOLLOW;
    /* As open_last_lookups: creating through a name with a trailing slash. */
    if ((flags & O_CREAT) && n->dir_required)
        return -EISDIR;
    if (vol_ro(n) && !(flags & O_PATH)) {
        if (wants_write(flags))
            return ro_error(n, flags);
        if (flags & O_CREAT) {
            /* An existing file may be opened; creating one may not. */
            fd = vol_open(n, flags & ~(O_CREAT | O_EXCL), 0);
            if (fd == -ENOENT)
                return ro_error(n, flags);
            if (fd >= 0 && (flags & O_EXCL)) {
                hsys1(__NR_close, fd);
                return -EEXIST;
            }
            return fs_install(fd, KF_HOST, nofollow, 0, 0, n->path);
        }
    }
    if (flags & O_CREAT)
        upper_making(n->o.ent);
    fd = vol_open(n, flags, mode);
    if (flags & O_CREAT)
        upper_made(n->o.ent);
    return fs_install(fd, KF_HOST, nofollow, 0, 0, n->path);
}

/* Implements openat(2); differs from Linux in: the image is read-only
 * (EROFS); image and synthetic directories are placeholder fds that only
 * getdents, fstat, fchdir, lseek and *at() understand (read gives 0, not
 * EISDIR); volume symlinks to absolute paths outside the volume, or above it, do
 * not resolve (EXDEV, as openat2's RESOLVE_BENEATH), and ".." inside a
 * volume is lexical. */
long sys_openat(int dirfd, const char *path, int flags, int mode)
{
    flags &= FS_VALID_OPEN_FLAGS;
    if (flags & O_PATH)
        flags &= FS_O_PATH_FLAGS;
    if ((flags & __O_TMPFILE) && !(flags & O_DIRECTORY))
        return -EINVAL;
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    int excl = (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
    int wf = (flags & O_NOFOLLOW) || excl ? 0 : W_FOLLOW;
    long r = fs_walk(dirfd, path, wf, n);
    if (r == 0 && !(flags & O_PATH) && wants_write(flags) && !excl &&
        (r = fs_text_busy(n)) == 0)
        r = upper_copy_up(n, !(flags & O_TRUNC));
    if (r == 0) {
        switch (n->o.type) {
        case FO_VOLUME:
            r = open_volume(n, flags, mode);
            break;
        case FO_IMAGE:
            r = open_image(n, flags);
            break;
        default:
            r = synth_open(n, flags, mode);
            break;
        }
    } else if (r == -ENOENT && n->missing && (flags & O_CREAT) && !synth_in_proc(n->path)) {
        r = n->o.type == FO_IMAGE ? -EROFS : -EACCES;   /* procfs: no create, so ENOENT */
    }
    node_free(n);
    return r;
}

/* Implements open(2) as openat(AT_FDCWD, ...). */
long sys_open(const char *path, int flags, int mode)
{
    return sys_openat(AT_FDCWD, path, flags, mode);
}

/* Implements creat(2) as open(O_CREAT|O_WRONLY|O_TRUNC). */
long sys_creat(const char *path, int mode)
{
    return sys_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* The identity of n's file that exec records (ls_text) and a write is
 * checked against: a stub's inode in the writable root's layer, or a host
 * file's device and inode (st, its stat; NULL: not known). */
static struct ktext text_id(const struct fs_node *n, const struct stat *st)
{
    if (n->o.type == FO_IMAGE && n->o.ino)
        return (struct ktext){.dev = upper_dev(), .ino = n->o.ino, .stub = 1};
    if (n->o.type == FO_VOLUME && st)
        return (struct ktext){.dev = st->st_dev, .ino = st->st_ino};
    return (struct ktext){0};
}

/* A file of the image is known by its stub for free; a host file is
 * stat'ed only while some program of the guest runs from one. */
long fs_text_busy(struct fs_node *n)
{
    struct stat st;
    int host = n->o.type == FO_VOLUME && ptable_runs_files() && vol_stat(n, 1, &st) == 0;
    struct ktext id = text_id(n, host ? &st : 0);
    return id.ino ? ptable_text_busy(&id) : 0;
}

/* For the ELF loader: a regular file, following symlinks, O_RDONLY and
 * close-on-exec, with no table entry (the caller closes it with a host
 * close): the kernel's while it lives, wherever kfd_room_begin lets it
 * lie.  Directories give EACCES, like execve. */
long fs_open_exec(const char *guest_path, unsigned long *base, struct ktext *id)
{
    *base = 0;
    if (id)
        *id = (struct ktext){0};
    struct fs_node *n = node_new();
    if (!n)
        return -ENOMEM;
    long fd = fs_walk(AT_FDCWD, guest_path, W_FOLLOW, n);
    if (fd == 0) {
        fd = -EACCES;
        if (n->o.type == FO_VOLUME) {
            fd = vol_open(n, O_RDONLY | O_CLOEXEC, 0);
            struct stat st;
            if (fd >= 0 && (hsys2(__NR_fstat, fd, (long)&st) < 0 || !S_ISREG(st.st_mode))) {
                hsys1(__NR_close, fd);
                fd = -EACCES;
            }
            if (fd >= 0 && id)
                *id = text_id(n, &st);
        } else if (n->o.type == FO_IMAGE && img_on_host(n->o.ent)) {
            char hp[LS_HOST_FILE_PATH_MAX];
            fd = hsys4(__NR_openat, AT_FDCWD, (long)img_host_path(n->o.ent, hp),
                       O_RDONLY | O_CLOEXEC, 0);
        } else if (n->o.type == FO_IMAGE && img_kind(n->o.ent) == LS_ENT_DATA_FILE) {
            fd = img_data_memfd(n->o.ent, 1);
        } else if (n->o.type == FO_IMAGE && img_kind(n->o.ent) == LS_ENT_IMAGE_FILE) {
            fd = img_file_fd(n->o.ent, 1);
            *base = img_ent(n->o.ent)->data_off;
        } else if (n->o.type == FO_SYNTH && synth_type(&n->o) == ST_FDHOST) {
            char hp[SYNTH_FDHOST_PATH_MAX];
            synth_fdhost_path(&n->o, hp, sizeof hp);
            fd = hsys4(__NR_openat, AT_FDCWD, (long)hp, O_RDONLY | O_CLOEXEC, 0);
        }
        if (fd >= 0 && id && n->o.type == FO_IMAGE)
            *id = text_id(n, 0);
    }
    node_free(n);
    return fd;
}

/* Mount roots, the synthetic trees' indexes, the placeholder memfd for
 * directory fds, the marks of the fds whose reads the kernel serves, and
 * the cwd. */
int fs_init(void)
{
    int r = vol_init();
    if (r < 0 || (r = upper_init(!(K.bi->flags & LS_BOOT_EXECED))) < 0 ||
        (r = synth_index_init()) < 0)
        return r;
    path_init();
    fs_based = kzalloc(K.nofile_limit);     /* untouched pages cost nothing */
    if (!fs_based)
        return -ENOMEM;
    fs_based_len = K.nofile_limit;
    /* Untouched pages cost nothing (kzalloc); without the map every ioctl
     * takes the kernel's way, which is right for any fd. */
    fs_kept = K.nofile_limit > 0 ? kzalloc(K.nofile_limit) : 0;
    fs_kept_len = fs_kept ? K.nofile_limit : 0;
    fd_mark_all();
    long fd = fs_sealed_memfd("libsubst-dir", 0, 0, 1, 0555);
    if (fd < 0)
        return fd;
    int kf;
    fs_placeholder_path_fd =
        kfd_hide(fs_reopen(hsys3(__NR_fcntl, fd, F_DUPFD_CLOEXEC, 0), O_PATH | O_CLOEXEC, &kf));
    fs_placeholder_fd = kfd_hide(fs_reopen(fd, O_RDONLY | O_CLOEXEC, &kf));
    if (fs_placeholder_fd < 0 || fs_placeholder_path_fd < 0)
        return fs_placeholder_fd < 0 ? fs_placeholder_fd : fs_placeholder_path_fd;
    const char *c = K.cwd;
    if (!*c)
        c = "/";
    cwd_set("/", 0);
    r = fs_chdir_path(c);               /* a whole guest path: before the root is set */
    fs_root_set(K.root);
    if (r < 0 && (K.bi->flags & LS_BOOT_EXECED)) {
        /* The caller's directory went away (or out of reach) before its
         * execve: Linux keeps it as the new program's cwd, where relative
         * names do not resolve; so do we, by its name. */
        cwd_set(c, K.cwd_host);
        return 0;
    }
    if (r < 0)
        kwarn("working directory %s: error %d", c, -r);
    return r;
}
