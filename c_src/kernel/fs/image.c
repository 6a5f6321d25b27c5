/*
 * The image: the boot-info block's entries, sorted by path (bytes), read-only.
 *
 * Because they are sorted, every descendant of a directory D lies in one run
 * that starts just after D: the entries beginning "D/" (a run interleaved
 * only with siblings such as "D-x" or "D.x", which sort between D and "D/").
 * Listing D scans that run and keeps the entries with no further '/'.
 */
#include "fs.h"

int img_count(void)
{
    return K.bi->nentries;
}

const struct ls_fs_entry *img_ent(int i)
{
    return (const struct ls_fs_entry *)(K.blk + K.bi->entries_off) + i;
}

const char *img_path(int i)
{
    return bi_str(img_ent(i)->path);
}

/* Under the sandbox the tender bound each host file at a short path of its
 * own (handover.h says why); without it, the host path is where it is. */
const char *img_host_path(int ent, char *buf)
{
    if (K.bi->flags & LS_BOOT_NO_POLICY)
        return bi_str(img_ent(ent)->target);
    ksnprintf(buf, LS_HOST_FILE_PATH_MAX, LS_HOST_FILE_FMT, (unsigned)ent);
    return buf;
}

/* Entry ent's bytes are a host file at img_host_path: a host file's, or,
 * under the sandbox, a data file's, which the tender wrote there. */
int img_on_host(int ent)
{
    int kind = img_kind(ent);
    return kind == LS_ENT_HOST_FILE ||
           (kind == LS_ENT_DATA_FILE && !(K.bi->flags & LS_BOOT_NO_POLICY));
}

int img_host_entry(const char *host)
{
    static const char dir[] = LS_HOST_FILES "/";
    if (K.bi->flags & LS_BOOT_NO_POLICY) {
        for (int i = 0; i < img_count(); i++)
            if (img_kind(i) == LS_ENT_HOST_FILE && strcmp(bi_str(img_ent(i)->target), host) == 0)
                return i;
        return -1;
    }
    if (strncmp(host, dir, sizeof dir - 1) != 0)
        return -1;
    long i = 0;
    const char *s = host + sizeof dir - 1;
    for (; *s >= '0' && *s <= '9' && i < img_count(); s++)
        i = i * 10 + (*s - '0');
    return *s || s == host + sizeof dir - 1 || i >= img_count() || !img_on_host(i) ? -1 : (int)i;
}

int img_lookup(const char *path)
{
    int lo = 0, hi = img_count();
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(img_path(mid), path);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* First entry that sorts after path. */
static int upper_bound(const char *path)
{
    int lo = 0, hi = img_count();
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(img_path(mid), path) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int img_kind(int ent)
{
    return ent < 0 ? LS_ENT_DIR : (int)img_ent(ent)->kind;
}

/* A virtual dir (an ancestor of a mount point, or "/", missing from the
 * image) gets an inode number from its path. */
static unsigned long vdir_ino(const char *path)
{
    unsigned long h = 5381;
    while (*path)
        h = h * 33 + (unsigned char)*path++;
    return 0x40000000UL | (h & 0xffffff);
}

static void set_mtime(const struct ls_fs_entry *e, struct stat *st)
{
    st->st_mtime = st->st_atime = st->st_ctime = e->mtime_ns / 1000000000UL;
    st->st_mtime_nsec = st->st_atime_nsec = st->st_ctime_nsec = e->mtime_ns % 1000000000UL;
}

void img_fix_stat(int ent, struct stat *st)
{
    const struct ls_fs_entry *e = img_ent(ent);
    st->st_dev = FS_DEV_IMAGE;
    st->st_ino = ent + 1;
    st->st_mode = S_IFREG | (e->mode & 07777);
    st->st_nlink = 1;
    st->st_uid = 0;
    st->st_gid = 0;
    st->st_rdev = 0;
    if (e->kind == LS_ENT_DATA_FILE)
        set_mtime(e, st);               /* the image's time, not the copy's */
}

long img_stat(int ent, const char *path, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = FS_DEV_IMAGE;
    st->st_blksize = 4096;
    if (ent < 0) {
        st->st_ino = vdir_ino(path);
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        st->st_size = 4096;
        st->st_blocks = 8;
        return 0;
    }
    const struct ls_fs_entry *e = img_ent(ent);
    st->st_ino = ent + 1;
    st->st_nlink = 1;
    switch (e->kind) {
    case LS_ENT_DIR:
        st->st_mode = S_IFDIR | (e->mode & 07777);
        st->st_nlink = 2;
        st->st_size = 4096;
        st->st_blocks = 8;
        return 0;
    case LS_ENT_SYMLINK:
        st->st_mode = S_IFLNK | 0777;
        st->st_size = strlen(bi_str(e->target));
        return 0;
    case LS_ENT_DATA_FILE:
    case LS_ENT_IMAGE_FILE:
        st->st_mode = S_IFREG | (e->mode & 07777);
        st->st_size = e->data_size;
        st->st_blocks = (e->data_size + 511) / 512;
        set_mtime(e, st);
        return 0;
    case LS_ENT_HOST_FILE: {
        /* The host's size, blocks and times (Python checks .pyc against the
         * source's mtime); identity and mode as the image presents it. */
        char hp[LS_HOST_FILE_PATH_MAX];
        long r = hsys4(__NR_newfstatat, AT_FDCWD, (long)img_host_path(ent, hp), (long)st, 0);
        if (r < 0)
            return r;
        img_fix_stat(ent, st);
        return 0;
    }
    }
    return -EIO;
}

/* Every memfd in the guest is made MFD_NOEXEC_SEAL (the seccomp filter lets
 * no other through): executing one would run a program on the host outside
 * the trap, and Landlock does not govern memfds.  Mapping one executable
 * still works; its mode the guest sees is the image's (img_fix_stat). */
long fs_memfd_new(const char *name, int cloexec)
{
    return hsys2(__NR_memfd_create, (long)name, MFD_NOEXEC_SEAL | (cloexec ? MFD_CLOEXEC : 0));
}

/* Implements memfd_create(2); differs from Linux in: as under
 * vm.memfd_noexec = 2, every memfd is MFD_NOEXEC_SEAL (so sealing is allowed
 * and F_SEAL_EXEC set) and MFD_EXEC fails with EACCES. */
long sys_memfd_create(const char *name, unsigned flags)
{
    if (flags & MFD_EXEC)
        return -EACCES;
    return hsys2(__NR_memfd_create, (long)name, flags | MFD_NOEXEC_SEAL);
}

/* Rewinds, sets the mode the host reports, and seals the contents. */
long fs_memfd_seal(long fd, unsigned mode)
{
    hsys3(__NR_lseek, fd, 0, 0 /* SEEK_SET */);
    hsys2(__NR_fchmod, fd, mode);
    hsys3(__NR_fcntl, fd, F_ADD_SEALS, FS_SEALS);
    return fd;
}

long fs_reopen(long fd, int flags, int *kf)
{
    *kf = (flags & O_NOFOLLOW ? KF_F_ADD_NOFOLLOW : 0) |
          (flags & O_DIRECTORY ? KF_F_ADD_DIRECTORY : 0);
    if (fd < 0)
        return fd;
    char hp[40];
    ksnprintf(hp, sizeof hp, "/proc/self/fd/%ld", fd);
    long nfd = hsys4(__NR_openat, AT_FDCWD, (long)hp, O_RDONLY | (flags & FS_REOPEN_FLAGS), 0);
    /* dup3 onto fd's number, the lowest free one when the caller made it,
     * as Linux gives an open. */
    long r = nfd < 0 ? nfd : hsys3(__NR_dup3, nfd, fd, flags & O_CLOEXEC);
    if (nfd >= 0)
        hsys1(__NR_close, nfd);
    if (r < 0)
        hsys1(__NR_close, fd);
    return r;
}

long fs_sealed_memfd(const char *name, const void *data, size_t n, int cloexec, unsigned mode)
{
    long fd = fs_memfd_new(name, cloexec);
    if (fd < 0)
        return fd;
    if (n) {
        long w = kwrite_all(fd, data, n);
        if (w < 0) {
            hsys1(__NR_close, fd);
            return w;
        }
    }
    return fs_memfd_seal(fd, mode);
}

long img_file_fd(int ent, int cloexec)
{
    if (K.image_fd < 0)
        return -EIO;
    return hsys3(__NR_fcntl, K.image_fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
}

long img_perm(int ent, int mode, int writable)
{
    int kind = img_kind(ent);
    if ((mode & 2 /* W_OK */) && kind != LS_ENT_SYMLINK && !writable)
        return -EROFS;
    unsigned m = ent < 0 ? S_IFDIR | 0755 : img_ent(ent)->mode & 07777;
    if (kind == LS_ENT_DIR)
        m |= S_IFDIR;
    return perm_check(m, 0, 0, mode);
}

long perm_check(unsigned mode, unsigned uid, unsigned gid, int want)
{
    want &= 7;
    if (K.bi->uid == 0) {
        /* root passes read and write; execute needs some x bit (or a dir). */
        if ((want & 1) && !S_ISDIR(mode) && !(mode & 0111))
            return -EACCES;
        return 0;
    }
    unsigned bits = K.bi->uid == uid ? mode >> 6 : K.bi->gid == gid ? mode >> 3 : mode;
    return (want & ~bits & 7) ? -EACCES : 0;
}

/* strcmp(s, a[0..al) + "/" + b) without building the string. */
static int cmp_join(const char *s, const char *a, size_t al, const char *b)
{
    for (size_t i = 0; i < al; i++, s++)
        if ((unsigned char)*s != (unsigned char)a[i])
            return (unsigned char)*s - (unsigned char)a[i];
    if (*s != '/')
        return (unsigned char)*s - '/';
    s++;
    while (*s && *s == *b)
        s++, b++;
    return (unsigned char)*s - (unsigned char)*b;
}

/* The first entry not before "dir/" (dir[0..dl), "" for "/"): the entries
 * below dir sort together from there. */
static int first_below(const char *dir, size_t dl)
{
    int lo = 0, hi = img_count();
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cmp_join(img_path(mid), dir, dl, "") < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int is_below(int i, const char *dir, size_t dl)
{
    return i < img_count() && strncmp(img_path(i), dir, dl) == 0 && img_path(i)[dl] == '/';
}

/* Whether any entry lies below directory dir[0..dl). */
int img_has_below(const char *dir, size_t dl)
{
    return is_below(first_below(dir, dl), dir, dl);
}

/* Whether the entry at dir or one below it is not a directory: a file or
 * link of the image, which shadows what else serves its path. */
int img_files_at_or_below(const char *dir)
{
    size_t dl = strlen(dir);
    int e = img_lookup(dir);
    if (e >= 0 && img_kind(e) != LS_ENT_DIR)
        return 1;
    for (int i = first_below(dir, dl); is_below(i, dir, dl); i++)
        if (img_kind(i) != LS_ENT_DIR)
            return 1;
    return 0;
}

/* Entry index of dir[0..dl) + "/" + name, or -1. */
static int img_lookup_child(const char *dir, size_t dl, const char *name)
{
    int lo = 0, hi = img_count();
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = cmp_join(img_path(mid), dir, dl, name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static unsigned char dtype_of(int kind)
{
    switch (kind) {
    case LS_ENT_DIR:
        return FS_DT_DIR;
    case LS_ENT_SYMLINK:
        return FS_DT_LNK;
    default:
        return FS_DT_REG;
    }
}

static const char *const synth_roots[] = {"/proc", "/sys", "/dev"};

/*
 * Cookies: 2 = start; 3+i = scan the image from entry i; 3+N+k = the k-th
 * extra candidate: mount points (k < nmounts) and, below "/", the synthetic
 * roots, listed when the image has no entry of that name.
 */
int img_dir_next(const char *dir, long *c, struct dent *d)
{
    long n = img_count();
    size_t dl = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
    if (*c == 2)
        *c = 3 + upper_bound(dir);
    for (; *c >= 3 && *c < 3 + n; (*c)++) {
        int i = *c - 3;
        const char *s = img_path(i);
        if (strncmp(s, dir, dl) != 0 || (s[dl] != '/' && s[dl] > '/'))
            break;                      /* past the run of descendants */
        if (s[dl] != '/')
            continue;                   /* a sibling like "D-x" */
        const char *name = s + dl + 1;
        if (!*name || strchr(name, '/'))
            continue;                   /* a deeper descendant */
        d->ino = i + 1;
        d->type = dtype_of(img_ent(i)->kind);
        d->name = name;
        d->nlen = strlen(name);
        (*c)++;
        return 1;
    }
    if (*c < 3 + n)
        *c = 3 + n;
    long nextra = fs_nmnt + (dl == 0 ? (long)LS_ARRAY_SIZE(synth_roots) : 0);
    for (; *c < 3 + n + nextra; (*c)++) {
        long k = *c - 3 - n;
        const char *g = k < fs_nmnt ? fs_mnt[k].guest : synth_roots[k - fs_nmnt];
        if (strncmp(g, dir, dl) != 0 || g[dl] != '/' || !g[dl + 1])
            continue;
        const char *name = g + dl + 1;
        size_t nl = 0;
        while (name[nl] && name[nl] != '/')
            nl++;
        /* Skip names the image lists, and names an earlier mount gave. */
        if (nl >= sizeof d->nbuf)
            continue;
        memcpy(d->nbuf, name, nl);
        d->nbuf[nl] = 0;
        int dup = 0;
        for (long j = 0; j < k && j < fs_nmnt && !dup; j++)
            dup = strncmp(fs_mnt[j].guest, g, dl + 1 + nl) == 0 &&
                  (fs_mnt[j].guest[dl + 1 + nl] == 0 || fs_mnt[j].guest[dl + 1 + nl] == '/');
        if (dup || img_lookup_child(dir, dl, d->nbuf) >= 0)
            continue;
        d->ino = 0x30000 + k;
        d->type = FS_DT_DIR;
        d->name = d->nbuf;
        d->nlen = nl;
        (*c)++;
        return 1;
    }
    return 0;
}
