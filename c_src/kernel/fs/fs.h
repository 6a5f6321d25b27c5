/*
 * The guest kernel's file system: internal interface of c_src/kernel/fs/.
 *
 * Guest fd == host fd.  Every guest descriptor is a real host descriptor, so
 * read/write/poll/mmap pass straight to the host.  The kernel keeps, per fd,
 * only what it needs on top (struct kofd): what kind of object the fd stands
 * for, the guest path it was opened by, and a directory cursor.  Fds with no
 * entry (inherited stdio, pipes, sockets, memfds the guest made) are plain
 * host objects with no path.
 *
 * The guest's name space is, from the most to the least specific:
 *   - mounts (struct ls_mount): a guest directory served by a host directory,
 *     resolved beneath it (volume.c, beneath.c);
 *   - the synthetic trees /proc, /sys and /dev (synth*.c);
 *   - the image: the boot-info block's sorted entries (image.c), read-only.
 * A path is walked (path.c) into a struct fs_node that says which of the
 * three serves it; the handlers then act on the node.
 */
#ifndef LS_FS_H
#define LS_FS_H

#include "kernel.h"
#include "libsubst/handover.h"
#include <linux/uio.h>
#include <linux/memfd.h>
#include <linux/close_range.h>
#include <linux/time_types.h>
#include <linux/utime.h>
#include <asm/statfs.h>

#include "host_constants.h"            /* newer than the build headers: hostcalls.py's */

/* ---- constants the uapi headers do not give a freestanding build ---- */
#define RENAME_NOREPLACE 1     /* renameat2(2); <linux/fs.h> drags in more */
#define RENAME_EXCHANGE 2
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
#define SEEK_DATA 3
#define SEEK_HOLE 4
#define FS_DT_CHR 2
#define FS_DT_DIR 4
#define FS_DT_REG 8
#define FS_DT_LNK 10
#define FS_ST_RDONLY 0x0001
#define FS_ST_VALID 0x0020     /* statfs f_flags is meaningful (glibc's statvfs relies on it) */
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U    /* Linux 6.8: a mount id never reused */
#endif

/* glibc's dev_t encoding (gnu_dev_makedev), as struct stat carries it. */
#define FS_MKDEV(ma, mi)                                                                      \
    ((((unsigned long)(ma) & 0xfffUL) << 8) | (((unsigned long)(ma) & ~0xfffUL) << 32) |      \
     ((unsigned long)(mi) & 0xffUL) | (((unsigned long)(mi) & ~0xffUL) << 12))
#define FS_MAJOR(d) ((unsigned)((((d) >> 32) & 0xfffff000UL) | (((d) >> 8) & 0xfffUL)))
#define FS_MINOR(d) ((unsigned)((((d) >> 12) & 0xffffff00UL) | ((d) & 0xffUL)))

/* Fixed device numbers the guest sees for objects the kernel presents itself. */
#define FS_DEV_IMAGE FS_MKDEV(0, 0x4c53)
#define FS_DEV_PROC FS_MKDEV(0, 0x4c50)
#define FS_DEV_SYS FS_MKDEV(0, 0x4c59)
#define FS_DEV_DEV FS_MKDEV(0, 0x4c44)

/* open(2) drops unknown flags, and all but these with O_PATH. */
#define FS_VALID_OPEN_FLAGS                                                                \
    (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC |  \
     FASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC |   \
     __O_SYNC | O_PATH | __O_TMPFILE)
#define FS_O_PATH_FLAGS (O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC)
/* What F_SETFL changes; a packed image's file keeps these and the open's
 * O_DSYNC and O_SYNC itself, off the image fd it shares a description with. */
#define FS_SETFL_FLAGS (O_APPEND | FASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK)
#define FS_BASED_FLAGS (FS_SETFL_FLAGS | O_DSYNC | __O_SYNC)

/* ---- lock (fdtable.c): guards the fd table and the cwd ---- */
void fs_lock(void);
void fs_unlock(void);

/* ---- open file descriptions (fdtable.c) ---- */
enum {
    KF_HOST = 1,        /* the host fd is the object (volume file, device, memfd, image file) */
    KF_IMAGE,           /* placeholder fd for an image directory (or O_PATH symlink) */
    KF_SYNTH,           /* placeholder fd for a synthetic directory (or O_PATH symlink) */
};
#define KF_F_IMAGE 1    /* KF_HOST: an image file; fstat is presented as the image's */
#define KF_F_SYNTH 2    /* KF_HOST: a generated synthetic file */
#define KF_F_BASED 4    /* KF_HOST with KF_F_IMAGE: a LS_ENT_IMAGE_FILE, a window of the
                           image file (a dup of K.image_fd); see read_write.c */
#define KF_F_NOFOLLOW 8 /* KF_HOST: the host's O_NOFOLLOW is the kernel's (vol_open_beneath),
                           not the guest's, so F_GETFL leaves it out */
#define KF_F_ADD_NOFOLLOW 16  /* the guest opened it O_NOFOLLOW, which the host fd (a reopen
                                 through /proc, fs_reopen) cannot carry: F_GETFL adds it */
#define KF_F_ADD_DIRECTORY 32 /* likewise O_DIRECTORY, of a placeholder */
#define KF_F_GEN 64     /* KF_HOST with KF_F_SYNTH: the host fd is the host's own file that the
                           synthetic table names, whose reads the kernel serves from the
                           bytes it generates (synth_fd.c) */
#define KF_F_DIR 128    /* KF_IMAGE, KF_SYNTH: a directory's placeholder, not O_PATH: its
                           reads are the kernel's (FD_DIR), EISDIR as Linux's */

/* Shared by fds made with dup (like Linux's struct file); refcounted. */
struct kofd {
    int refs;
    unsigned char kind, flags;  /* KF_*, KF_F_* */
    int ent;                    /* image entry (-1: a virtual dir) or synthetic id */
    long arg;                   /* synthetic argument (an fd number); KF_F_BASED: the fd's
                                   FS_BASED_FLAGS (fd.c: F_GETFL, F_SETFL) */
    long pos;                   /* directory cursor: the d_off cookie to resume from;
                                   KF_F_BASED: the file position */
    char *path;                 /* guest path (stored after the struct), or NULL; a rename
                                   through this process gives the fd a new entry with the
                                   new path (fd_renamed) */
    unsigned long ino;          /* an image file's fd in the writable root: the inode of the
                                   stub it was opened on (upper_fd.c), else 0 */
    unsigned stamp;             /* fd_renamed's pass that made it (fdtable.c) */
    unsigned fl;                /* KF_IMAGE, KF_SYNTH: its status flags (FS_SETFL_FLAGS), which
                                   its host fd, a dup of a placeholder, does not keep (fd.c) */
    int own_pid;                /* KF_IMAGE, KF_SYNTH: F_SETOWN_EX's pid and type, if owned, */
    unsigned char own_type, owned, sig;     /* and F_SETSIG's signal (fd.c: placeholder_own) */
    /* KF_F_GEN (synth_fd.c), Linux's seq_file: the bytes generated for a
     * read that continues at rpos (NULL: none kept), rpos the offset after
     * the last read (-1: none yet), geof whether that read reached their
     * end; opener the pid that opened it (a forked child reads its
     * parent's file, as on Linux). */
    unsigned char geof;
    struct kgen *gen;
    long rpos;
    long opener;
};

/* Whether o (NULL: a host fd the kernel did not record) is the host's own
 * object, to act on directly. */
static inline int kofd_plain(const struct kofd *o)
{
    return !o || (o->kind == KF_HOST && !(o->flags & ~KF_F_NOFOLLOW));
}

/* The guest's F_GETFL of an fd whose host flags are host_fl, by its entry o
 * (NULL: none): the host's, less the kernel's own O_NOFOLLOW, plus what a
 * reopen could not carry. */
static inline long kofd_getfl(const struct kofd *o, long host_fl)
{
    if (!o || host_fl < 0)
        return host_fl;
    if (o->flags & KF_F_NOFOLLOW)
        host_fl &= ~O_NOFOLLOW;
    if (o->flags & KF_F_ADD_NOFOLLOW)
        host_fl |= O_NOFOLLOW;
    if (o->flags & KF_F_ADD_DIRECTORY)
        host_fl |= O_DIRECTORY;
    if (o->kind != KF_HOST)
        host_fl |= o->fl;
    return host_fl;
}

/* The placeholder memfd every IMAGE/SYNTH fd is a dup of: opened read-only,
 * and O_PATH for an O_PATH open, so that the host shows its access mode
 * (F_GETFL, fdinfo, the mode of its fd link) as an open's of the object. */
extern int fs_placeholder_fd, fs_placeholder_path_fd;
/* A host fd for a placeholder (an image or synthetic directory, an O_PATH
 * one of a file the kernel serves), as the guest's open flags say
 * (open.c); *kf gets the KF_F_ADD_* flags its entry needs. */
long fs_placeholder_open(int flags, int *kf);
/* Records the status flags of the guest's open (FS_SETFL_FLAGS of flags) in
 * fd's entry, a placeholder's; returns fd. */
long fs_placeholder_fl(long fd, int flags);

int fd_valid(long fd);          /* a guest fd number: not the kernel's (fdtable.c) */
/* Calls fn for each guest fd the host's /proc/self/fd lists now (fdtable.c). */
void fd_each_guest(void (*fn)(long fd, void *arg), void *arg);
struct kofd *kofd_new(int kind, int flags, int ent, long arg, const char *path);
void kofd_put(struct kofd *o);
/* Records o (reference taken over; NULL clears) as fd's entry, dropping any old one. */
int fd_install(int fd, struct kofd *o);
struct kofd *fd_get(long fd);   /* a new reference to fd's entry, or NULL */
/* The first fd from `from` on whose host O_NOFOLLOW is the kernel's, or -1
 * (at execve, for the exec block). */
long fd_next_nofollow(long from);
/* The next fd from `from` whose entry is not KF_HOST (an exec hands it over), or -1. */
long fd_next_kept(long from);
struct kofd *fd_detach(long fd);
/* dup, dup2, dup3 and F_DUPFD* between enter and leave; a refusal of
 * received directory fds (net/recvmsg.c) between begin and end, which
 * waits for those under way and keeps new ones out: no copy is made of
 * a refused fd while it looks for copies (fdtable.c). */
void fd_dup_enter(void);
void fd_dup_leave(void);
void fd_refuse_begin(void);
void fd_refuse_end(void);
void fd_detach_range(unsigned long lo, unsigned long hi);
/* Copies fd's guest path into buf: its length, -ENOENT if it has none. */
long fd_copy_path(long fd, char *buf, size_t n);
/* The id the guest's mountinfo gives the mount serving guest path p (synth_gen.c). */
int fs_mount_id(const char *p);
int fd_has_path(long fd);
/* Whether /proc/self/fd/N is followed by fd's guest path: it has one and,
 * a regular file, still has a name.  One unlinked since (a deleted
 * temporary file, an O_TMPFILE one: st_nlink 0) has none, and Linux
 * reopens the open file itself, as the host's own link of fd does. */
int fd_link_by_path(long fd);
int fd_host_open(long fd);      /* non-zero if host fd is open */
/* Finishes an open: checks the new host fd, records its entry (kind 0: none).
 * Returns the fd or -errno (the host fd is closed on failure). */
long fs_install(long hfd, int kind, int flags, int ent, long arg, const char *path);
struct fs_node;
/* fs_install for an open of image node n: its entry, path and stub's inode. */
long fs_install_image(long hfd, int kind, int flags, int arg, const struct fs_node *n);
/* fs_install for host file hfd of synthetic file node n: KF_F_GEN. */
long fs_install_gen(long hfd, const struct fs_node *n);
/* After guest path from was renamed to to (exchange: and to to from): the
 * fds and the cwd of this process recorded below either follow. */
void fd_renamed(const char *from, const char *to, int exchange);
/* The first fd >= from open on stub inode ino, with a new reference to its
 * entry in *op; -ENOENT if none. */
long fd_next_stub(unsigned long ino, long from, struct kofd **op);
/* Puts host fd hfd, with entry n, in place of every fd whose entry is o. */
void fd_replace(struct kofd *o, long hfd, struct kofd *n);

/* fs_based[fd] is non-zero while the kernel serves guest fd `fd`'s reads:
 * FD_WINDOW for a KF_F_BASED file, FD_GEN for a KF_F_GEN one, FD_DIR for
 * a KF_F_DIR placeholder (whose host fd, a memfd, would read as empty),
 * FD_MEM for a process's mem or pagemap (synth_mem.c).  The hot
 * calls (read, pread64, lseek, ...) test it first, without the lock, and
 * pass everything else straight to the host; fs_based_len entries (the
 * guest's fd range). */
enum { FD_WINDOW = 1, FD_GEN, FD_DIR, FD_MEM };
/* synth_mem.c: whether synthetic id is a mem or pagemap file; the reads of
 * an FD_MEM fd (pos < 0: at its position, advanced). */
int synth_is_mem(int id);
long synth_mem_readv(long fd, const struct iovec *iov, int cnt, long off);
/* Guest fd hfd, a host fd the kernel did not open (an SCM_RIGHTS part's,
 * one an execve kept): if it is a mem or pagemap of this process's /proc
 * (its st_dev; the task its host link names), the entry synth_mem_open
 * gives, so that its reads leave the kernel's memory out as well (closed
 * if no entry can be made). */
void synth_mem_adopt(long hfd);
extern unsigned char *fs_based;
extern long fs_based_len;
/* fs_kept[fd] says what the kernel keeps of guest fd `fd` beyond its host
 * description, read without the lock (as fs_based): FD_KEPT_FL while its
 * status flags are its entry's, not the host's (KEPT calls, ioctl, then
 * need the kernel, and any fd past fs_kept_len, the kernel's own among
 * them, too); FD_KEPT_STAT while its stat is not the host fd's (!kofd_plain:
 * fstat then needs its entry). */
#define FD_KEPT_FL 1               /* arch/x86_64/arch.h's LS_KEPT_FL */
#define FD_KEPT_STAT 2
extern unsigned char *fs_kept;
extern long fs_kept_len;
/* Both maps made after the exec block put its fds in the table: marked now. */
void fd_mark_all(void);
static inline int fd_flags_kept(const struct kofd *o)
{
    return o && (o->kind != KF_HOST || (o->flags & KF_F_BASED));
}
static inline int fd_kept_bits(const struct kofd *o)
{
    return (fd_flags_kept(o) ? FD_KEPT_FL : 0) | (kofd_plain(o) ? 0 : FD_KEPT_STAT);
}
/* Whether fd's stat is the host fd's (no entry, or a plain one), from its
 * byte; -1 if the map cannot say (the kernel's own range, no map). */
static inline int fd_stat_plain(long fd)
{
    unsigned char *k = fs_kept;
    if (!k || (unsigned long)fd >= (unsigned long)fs_kept_len)
        return -1;
    return !(__atomic_load_n(&k[fd], __ATOMIC_RELAXED) & FD_KEPT_STAT);
}
static inline int fd_is_based(long fd)
{
    unsigned char *b = fs_based;
    return b && (unsigned long)fd < (unsigned long)fs_based_len ? b[fd] : 0;
}
/* For a KF_F_BASED fd: the image entry's window, with a reference to its
 * entry in *op (the caller puts it).  -EBADF if fd is no longer based. */
long fd_window(long fd, struct kofd **op, unsigned long *base, unsigned long *size);

/* The guest's working directory (normalised absolute guest path); host:
 * whether the host's cwd is that directory too (one of a volume or of the
 * writable root's layer, fs_chdir_path), so that "." still names it once
 * it is removed (cwd_removed, dir.c). */
void cwd_get(char *buf);        /* buf: LS_PATH_MAX bytes */
void cwd_set(const char *path, int host);
int cwd_on_host(void);
int cwd_removed(void);

/* ---- paths (path.c) ---- */
enum { FO_IMAGE = 1, FO_VOLUME, FO_SYNTH };
struct fs_obj {
    int type;                   /* FO_* */
    int ent;                    /* image entry (-1: virtual dir), mount index, or synthetic id */
    long arg;                   /* synthetic argument (synth_arg packs a pid with a number) */
    unsigned mode;              /* in the writable root's layer: its S_IFMT there (a stub's
                                   S_IFREG for an FO_IMAGE file), else 0 */
    unsigned long ino;          /* an FO_IMAGE file's stub in the layer: the stub's inode
                                   (upper_identity), else 0 */
    int resolved;               /* FO_VOLUME below a volume that is alone: the host resolved
                                   the path's directories beneath its root with no symlink
                                   (vol_dir_beneath) under the cache's generation (volume.c) */
};

struct fs_node {
    struct fs_obj o;
    int missing;                /* -ENOENT was for the last component only; o is its parent */
    int absent;                 /* the writable root's layer had no last component (walk_down):
                                 * what a stat or an access of it answers, ENOENT */
    int dir_required;           /* the path ended in '/' */
    int last_dot;               /* the last component was "." (1) or ".." (2), or the path
                                 * is only slashes (3): Linux's LAST_DOT/LAST_DOTDOT/
                                 * LAST_ROOT, which name-space changes refuse */
    uint64_t gen;               /* the layer's generation the walk read (upper_cache.c) */
    const char *root;           /* fs_root() when the walk began */
    char path[LS_PATH_MAX];     /* resolved, normalised absolute guest path */
    char tmp[LS_PATH_MAX];      /* scratch: the walk's remainder, then the volume helpers' */
};

#define W_FOLLOW 1              /* follow a symlink in the last component */
struct fs_node *node_new(void);
void node_free(struct fs_node *n);
/* Resolves guest path `path` relative to dirfd (AT_FDCWD: the cwd). */
int fs_walk(long dirfd, const char *path, int wflags, struct fs_node *n);
/* What serves normalised absolute path p (no symlinks followed). */
int fs_classify(const char *p, struct fs_obj *o);
void path_init(void);                       /* at boot, once the mounts are known */
int obj_is_dir(const struct fs_obj *o);
int obj_is_link(const struct fs_obj *o);
void path_pop(char *p);         /* "/a/b" -> "/a", "/a" -> "/" */
const char *path_base(const char *p);

/* ---- the image (image.c) ---- */
int img_count(void);
const struct ls_fs_entry *img_ent(int i);
const char *img_path(int i);
int img_lookup(const char *path);           /* entry index or -1 */
/* The path this process opens the host file of entry ent (LS_ENT_HOST_FILE)
 * by: buf (LS_HOST_FILE_PATH_MAX bytes, handover.h) or the entry's target. */
const char *img_host_path(int ent, char *buf);
/* The entry whose host file this process's host /proc/self/maps names
 * host, or -1. */
int img_host_entry(const char *host);
int img_on_host(int ent);                   /* its bytes are a host file at img_host_path */
int img_has_below(const char *dir, size_t dl);  /* an entry lies below dir[0..dl) */
int img_files_at_or_below(const char *dir);    /* a non-directory entry at or below dir */
int img_kind(int ent);                      /* LS_ENT_*; a virtual dir (-1) is LS_ENT_DIR */
long img_stat(int ent, const char *path, struct stat *st);
void img_fix_stat(int ent, struct stat *st);  /* present a host stat as the image's */
long img_data_memfd(int ent, int cloexec);
/* A data file opened with the guest's flags without the sandbox, where no
 * tender wrote it (data_fd.c: one host openat of the memfd the process
 * keeps for it); *kf as fs_reopen's. */
long data_file_open(int ent, int flags, int *kf);
void data_file_after_fork(void);
/* A new host fd (a dup of the image file, in the guest's range) for an
 * LS_ENT_IMAGE_FILE entry; its bytes start at img_ent(ent)->data_off. */
long img_file_fd(int ent, int cloexec);
long img_perm(int ent, int mode, int writable);  /* access(2) check; writable: a stub */

/* One directory entry produced for getdents. */
struct dent {
    unsigned long ino;
    unsigned char type;
    const char *name;
    size_t nlen;
    char nbuf[256];             /* a name made up on the fly (NAME_MAX + 1) */
};
/* Per-getdents-call context (the /proc/self/fd listing is gathered once). */
struct dctx {
    int loaded;
    int nfds, cap;
    int *fds;
};
/* Produces the child at cookie *c (>= 2) and advances *c; 0 at the end. */
int img_dir_next(const char *dir, long *c, struct dent *d);

/* ---- mounts (volume.c) ---- */
struct vmount {
    const char *guest;          /* guest path without trailing '/' ("" for "/") */
    size_t glen;
    size_t rlen;                /* the length of guest's prefix that root stands for: glen,
                                   or a host sysfs tree's "/sys" (volume.c) */
    const char *host;
    int root;                   /* O_PATH fd of the host directory (kernel-reserved) */
    int ro;
    int scratch;                /* a tmpfs of the guest's own (LS_MNT_SCRATCH) */
    int alone;                  /* nothing else lies below it: no image entry, no mount */
    int sys;                    /* a host sysfs tree (LS_HOST_TREES): part of /sys's mount */
    unsigned long long mnt_id;  /* root's unique mount id when root is its mount's root (the
                                   mount then holds the volume's tree alone), else 0 */
    unsigned long long mnt_id_old;  /* its STATX_MNT_ID, which a statx answers unasked */
};
extern struct vmount *fs_mnt;
extern int fs_nmnt;
int vol_init(void);
int vol_find(const char *p);                /* mount serving p (longest match) or -1 */
/* vol_find among mounts list[0..n): those that may serve p (synth_index.c's) */
int vol_find_among(const int *list, int n, const char *p);
int vol_at_or_below(int m, const char *dir);  /* mount m (not the layer) is at dir or below it */
int vol_is_ancestor(const char *p);         /* p is a strict ancestor of a mount point */
int vol_ro(const struct fs_node *n);
const char *vol_rel(const struct fs_node *n);   /* path beneath the mount root ("." = root) */
/* Opens the node beneath its mount root (flags as open(2) would clean them). */
long vol_open(struct fs_node *n, int flags, int mode);
/* An O_PATH fd of n (with flags: O_NOFOLLOW, O_DIRECTORY) the kernel closes
 * before the call returns, whatever the guest's RLIMIT_NOFILE. */
long vol_path(struct fs_node *n, int flags);
/* O_PATH|O_DIRECTORY fd of the node's parent beneath the mount; *name = last component. */
long vol_parent(struct fs_node *n, const char **name);
/* open(2) of rel beneath mount mnt's root, every symlink followed by the
 * kernel, none leading out of the volume (EXDEV): a host fd or -errno. */
long vol_open_beneath(int mnt, const char *rel, int flags, int mode);
/* Appends /name to the guest path a walk that left its volume wrote (vol_parent). */
void vol_relink_add(const char *name);
/* A volume at "/" that is not the writable root's layer (an OCI container's
 * root, libsubst-runtime) is rooted: the walk classifies it with one lstat
 * (its mode in fs_obj) and expands its symlinks itself (path.c), an
 * absolute one from the guest's root as Linux does in a chroot; /proc, /sys
 * and /dev stay the synthetic trees. */
int vol_rooted(int m);
unsigned vol_lmode(int m, const char *p);   /* S_IFMT of p, 0 if absent */
/* readlink(2) of guest path p of mount m: the target's length, or -errno. */
long vol_readlink(int m, const char *p, char *buf, size_t cap);
long vol_at(struct fs_node *n, const char **name, int *owned);
long vol_stat(struct fs_node *n, int follow, struct stat *st);
/* statx of n in one host call when its directories are known resolved
 * (fs_obj.resolved), not followed: 0, or -EAGAIN for vol_stat's way. */
long vol_statx_resolved(struct fs_node *n, int sync, unsigned mask, struct statx *sx);
/* O_PATH | O_DIRECTORY fd of dir beneath mount mnt's root; *resolved says
 * the host resolved it in one call, no symlink on the way (beneath.c). */
long vol_dir_beneath(int mnt, const char *dir, int *resolved);

/* ---- the writable root (upper.c) ---- */
extern int fs_upper;            /* fs_mnt index of the root's scratch layer, -1: read-only root */
int upper_init(int first);      /* first: the guest's first boot lays the image out in it */
/* What serves p in the layer: FO_VOLUME (fs_upper), or FO_IMAGE for a stub;
 * cached (upper_cache.c) under gen, read before the caller's cache lookup. */
int upper_classify(const char *p, uint64_t gen, struct fs_obj *o);
long upper_readlink(const char *p, char *dst, size_t cap);
/* A stub's identity for stat: the layer's device and the stub's inode. */
void upper_identity(const struct fs_obj *o, struct stat *st);
void upper_identity_at(const char *path, int ent, struct stat *st);
unsigned long upper_dev(void);  /* the layer's st_dev (0 if unknown) */
/* Before a rename or link of n: a stub (or each one still at its own path
 * below a directory n) gets its entry's index, which names the entry once
 * it has moved.  0 or -errno. */
long upper_index(const struct fs_node *n);
/* A stub node about to be renamed, linked or unlinked becomes the layer's
 * name (the stub moves; its contents stay the image's). */
void upper_rename_node(struct fs_node *n);
/* A stub node about to be changed is copied up (without its bytes when
 * !data: an O_TRUNC open) and becomes the layer's file. */
long upper_copy_up(struct fs_node *n, int data);
/* Every fd of this process open on stub inode ino is moved onto copy, an
 * fd of the file copied up from it (upper_fd.c). */
void upper_move_fds(unsigned long ino, long copy);
/* Before an attribute change through fd: an fd of a stub still at its path
 * is copied up and moved onto the copy.  0 (fd may be the image's still),
 * or -errno. */
long upper_copy_up_fd(long fd);
/* The lookup cache (upper_cache.c): what upper_classify found for guest paths,
 * valid while the shared generation is the one it was found under. */
uint64_t upper_gen(void);
void upper_changed(void);       /* after a name in the layer went or was replaced */
uint64_t upper_made_count(void);
void upper_making(int m);       /* before a call that may make a name in mount m, */
void upper_made(int m);         /* and after it (always paired) */
int upper_making_none(void);    /* no such call under way in the guest */
/* 1: a hit, in *o; -ENOENT: a name the layer had not got, none made since; 0: not known */
int upper_cache_get(const char *p, uint64_t gen, struct fs_obj *o);
uint32_t path_hash(const char *p, size_t n);   /* of p's n bytes */
int upper_cache_get_len(const char *p, size_t len, uint64_t gen, struct fs_obj *o); /* p's len known */
void upper_cache_put(const char *p, uint64_t gen, const struct fs_obj *o);
/* p absent from the layer, looked up under gen and the count of names made */
void upper_cache_absent(const char *p, uint64_t gen, uint64_t made);
void upper_cache_after_fork(void);  /* in a forked child: the cache's lock is free again */

/* ---- synthetic trees (synth*.c) ---- */
enum { ST_DIR = 1, ST_FILE, ST_LINK, ST_CHR, ST_FDHOST };
/* What a synthetic file is generated from (synth_gen.c). */
enum { SG_NONE, SG_HOSTCOPY, SG_STAT, SG_STATUS, SG_MAPS, SG_CMDLINE, SG_ENVIRON,
       SG_COMM, SG_MOUNTS, SG_MOUNTINFO, SG_TEXT, SG_LIMITS, SG_SELFCOPY, SG_CGROUP,
       SG_FDINFO, SG_NET, SG_NETIF, SG_SMAPS, SG_SMAPS_ROLLUP, SG_AUXV,
       SG_MEM, SG_PAGEMAP, SG_MOUNTSTATS };
#define SID_FDLINK 0x200        /* /proc/<pid>/fd/<arg> */
#define SID_FDHOST 0x201        /* what /proc/<pid>/fd/<arg> names when it has no guest path */
#define SID_OFDLINK 0x202       /* another process's fd link (fs/synth_proc.c) */
#define SID_OFDHOST 0x203       /* what it names: always the host's object */
#define SID_FDINFO 0x204        /* /proc/<pid>/fdinfo/<fd>: arg synth_arg(the pid (0: this one), fd) */
#define SID_CWDHOST 0x205       /* "." in a removed working directory: the host's cwd */
#define SID_NSHOST 0x206        /* what /proc/<pid>/ns/<name> names, the host's namespace:
                                   arg synth_arg(the task (0: this process), its ptab index) */
/* A synthetic argument that names a task and a number (an fd, a ptab index):
 * the task in the low bits, wide enough for any pid or tid (PID_MAX_LIMIT,
 * 2^22 on 64-bit Linux; pid_max is per pid namespace since 6.14, up to it). */
#define SYNTH_PID_BITS 22
_Static_assert((1L << SYNTH_PID_BITS) >= 4194304, "a pid or tid up to PID_MAX_LIMIT fits");
static inline long synth_arg(long task, long n) { return task | n << SYNTH_PID_BITS; }
static inline long synth_arg_task(long arg) { return arg & ((1L << SYNTH_PID_BITS) - 1); }
static inline long synth_arg_n(long arg) { return arg >> SYNTH_PID_BITS; }
#define SID_N 0x300             /* + a synth_ntab index: /sys/class/net/<if>..., arg the ifindex */
/* Whether o is a /proc/<pid>/ns/<name> link (SL_NS); where it leads (SID_NSHOST). */
int synth_ns_link(const struct fs_obj *o);
void synth_ns_follow(struct fs_obj *o);
/* The host's name of the object an ST_FDHOST node stands for, in a buffer
 * of SYNTH_FDHOST_PATH_MAX: the longest, /proc/self/task/<tid>/ns/
 * time_for_children of a 7-digit tid, is 45 bytes. */
#define SYNTH_FDHOST_PATH_MAX 64
void synth_fdhost_path(const struct fs_obj *o, char *buf, size_t cap);
int synth_is_prefix(const char *p);
/* synth_index.c: the tables' indexes and what else serves each tree, made
 * at boot; synth_tree_of: which tree p is in (-1: none); alone: no volume
 * and no file of the image there; img: a file of the image there; vol:
 * vol_find of p, a path of tree t. */
int synth_index_init(void);
int synth_gfind(const char *p);             /* synth_gtab index of p, or -1 */
int synth_pfind(const char *s);             /* synth_ptab index of s, or -1 */
int synth_tree_of(const char *p);
int synth_tree_alone(int t);
int synth_tree_img(int t);
int synth_tree_vol(int t, const char *p);
int synth_lookup(const char *p, struct fs_obj *o);
int synth_type(const struct fs_obj *o);
/* The link's target into dst: its length, -ENOENT for an fd link with no
 * guest path (the walk then stops at SID_FDHOST), -ENAMETOOLONG. */
long synth_link_target(const struct fs_obj *o, char *dst, size_t cap);
long synth_readlink(const struct fs_obj *o, char *buf, size_t size);
long synth_stat(const struct fs_obj *o, struct stat *st);
void synth_fix_stat(int id, struct stat *st);
/* Whether synthetic file id is one Linux serves as a seq_file (most of
 * /proc): those refuse SEEK_END, SEEK_DATA and SEEK_HOLE (EINVAL). */
int synth_seq(int id);
/* Opens synthetic file node n as its host file (KF_F_GEN); -ENOENT if the
 * table names none the host has (the caller then generates a memfd). */
long synth_fd_open(struct fs_node *n, int flags);
/* The reads of a KF_F_GEN fd (synth_fd.c): into iov at offset off (< 0:
 * the fd's position, advanced); the copy calls' bytes from offset *offp
 * (NULL: the position) to out; lseek. */
long synth_fd_readv(long fd, const struct iovec *iov, int cnt, long off);
long synth_fd_copy(long out, long in, long *offp, size_t len, int splice);
long synth_fd_lseek(long fd, long off, int whence);
/* Before a host execve: a KF_F_GEN fd the next program keeps becomes a
 * sealed memfd of its bytes at its position (as read_write.c's windows). */
long synth_fd_for_exec(long fd);
/* Puts memfd m (a copy of fd's file; -errno: none) at fd's number, at
 * position pos with fd's status flags, and forgets fd's entry (read_write.c). */
long fs_exec_copy(long fd, long m, long pos);
/* Generates the bytes of synthetic file id (argument arg) into a kernel
 * buffer (kfree it), reading host file fd where fill reads host path src. */
struct kgen {
    size_t len;
    char data[];
};
long synth_generate_buf(int id, long arg, long fd, const char *src, struct kgen **out);
/* The host file of synthetic file e (argument arg) into buf: 0, or
 * -ENOENT if the table names none. */
long synth_host_file(int id, long arg, char *buf, size_t cap);
/* Whether normalised path p is /proc or below it. */
int synth_in_proc(const char *p);
long synth_open(struct fs_node *n, int flags, int mode);
long synth_perm(const struct fs_obj *o, int mode, int flags);
int synth_dir_next(const struct kofd *o, long *c, struct dent *d, struct dctx *x);
unsigned long synth_ino(const struct fs_obj *o);
const char *synth_host_path(int id);        /* host path of a copied file or device */
/* Whether another process's fd link (an SID_OFDLINK argument) names a
 * host file of /proc or /sys: one of its generated files (synth_fd.c),
 * which the link's guest path names too and only the kernel reads. */
int synth_other_fd_served(long arg);
/* The process a /proc/<pid> directory fd names (pidfd_send_signal takes
 * one): its pid; 0 if fd is no such directory, -ESRCH if it has ended. */
long synth_proc_dir_pid(long fd);
/* The program's file name, which the guest reads as an unnamed thread's
 * comm (synth_gen.c) and prctl(PR_GET_NAME) (proc/misc.c). */
const char *synth_prog_comm(void);
long fs_pid(void);

/* ---- shared helpers ---- */
long perm_check(unsigned mode, unsigned uid, unsigned gid, int want);
long stat_node(struct fs_node *n, int follow, struct stat *st);
long stat_fd(long fd, struct stat *st);
long fs_memfd_new(const char *name, int cloexec);
long fs_memfd_seal(long fd, unsigned mode);
/* What seals a memfd the kernel filled: its bytes stay as they are. */
#define FS_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/* The guest's open flags a reopen through /proc carries to the host (all
 * but O_NOFOLLOW, which would stop at the magic link, and O_DIRECTORY). */
#define FS_REOPEN_FLAGS                                                                    \
    (O_APPEND | O_NONBLOCK | O_NOATIME | FASYNC | O_DSYNC | __O_SYNC | O_NOCTTY | O_CLOEXEC | \
     O_PATH)
/* Reopens host fd fd read-only (or O_PATH) with the guest's open flags
 * (FS_REOPEN_FLAGS of them) at fd's own number: a description of its own
 * whose access mode and status flags are the guest's open's, which F_GETFL,
 * fdinfo, the fd's link and every read and write of the host then keep.
 * fd is closed on failure; returns fd or -errno; *kf gets the KF_F_ADD_*
 * flags the host fd could not carry. */
long fs_reopen(long fd, int flags, int *kf);
long fs_sealed_memfd(const char *name, const void *data, size_t n, int cloexec, unsigned mode);
long fs_chdir_path(const char *path);
/* The directory n names checked, its volume's physical path put in n->path,
 * and with host the host's cwd made it (dir.c).  0 or -errno. */
long fs_dir_enter(struct fs_node *n, int *host);
/* The process's root (chroot(2): root.c): NULL for "/", else the
 * normalised absolute guest path that absolute paths, absolute symlinks
 * and ".." at the root stop at; inherited by fork and execve. */
const char *fs_root(void);
void fs_root_set(const char *path);
/* Guest path p as the process sees it from its root: p's part below it
 * ("/" for the root itself), or NULL if p lies outside it. */
const char *fs_root_rel(const char *p);
/* -ETXTBSY when a process of the guest runs n's file as its program or
 * interpreter (open.c), else 0: Linux refuses to write such a file. */
long fs_text_busy(struct fs_node *n);
void fs_fork_child(void);       /* call in a forked child: resets the locks */

/* ---- syscall handlers ---- */
long sys_openat(int dirfd, const char *path, int flags, int mode);
long sys_memfd_create(const char *name, unsigned flags);
long sys_mount(const char *source, const char *target, const char *type, unsigned long flags,
               const void *data);
long sys_umount2(const char *target, long flags);
long sys_inotify_add_watch(int ifd, const char *path, unsigned int mask);
long sys_open(const char *path, int flags, int mode);
long sys_creat(const char *path, int mode);
long sys_close(int fd);
long sys_close_range(unsigned first, unsigned last, unsigned flags);
long sys_dup(int fd);
long sys_dup2(int oldfd, int newfd);
long sys_dup3(int oldfd, int newfd, int flags);
long sys_fcntl(int fd, int cmd, long arg);
long sys_ioctl(int fd, unsigned long cmd, long arg);
long sys_lseek(int fd, long off, int whence);
long sys_read(int fd, void *buf, size_t n);
long sys_pread64(int fd, void *buf, size_t n, long off);
long sys_readv(int fd, const struct iovec *iov, int cnt);
long sys_preadv(int fd, const struct iovec *iov, int cnt, unsigned long lo, unsigned long hi);
long sys_preadv2(int fd, const struct iovec *iov, int cnt, unsigned long lo, unsigned long hi,
                 int flags);
long sys_sendfile(int out, int in, long *offp, size_t count);
long sys_copy_file_range(int in, long *offin, int out, long *offout, size_t len, unsigned flags);
long sys_splice(int in, long *offin, int out, long *offout, size_t len, unsigned flags);
long sys_fstat(int fd, struct stat *st);
long sys_stat(const char *path, struct stat *st);
long sys_lstat(const char *path, struct stat *st);
long sys_newfstatat(int dirfd, const char *path, struct stat *st, int flags);
long sys_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx);
long sys_statfs(const char *path, struct statfs *sf);
long sys_fstatfs(int fd, struct statfs *sf);
long sys_access(const char *path, int mode);
long sys_faccessat(int dirfd, const char *path, int mode);
long sys_faccessat2(int dirfd, const char *path, int mode, int flags);
long sys_readlink(const char *path, char *buf, long size);
long sys_readlinkat(int dirfd, const char *path, char *buf, long size);
long sys_name_to_handle_at(int dirfd, const char *path, void *handle, int *mount_id, int flags);
long sys_open_by_handle_at(int mount_fd, void *handle, int flags);
long sys_getcwd(char *buf, unsigned long size);
long sys_chdir(const char *path);
long sys_fchdir(int fd);
long sys_chroot(const char *path);
long sys_mkdir(const char *path, int mode);
long sys_mkdirat(int dirfd, const char *path, int mode);
long sys_rmdir(const char *path);
long sys_mknodat(int dirfd, const char *path, int mode, unsigned dev);
long sys_mknod(const char *path, int mode, unsigned dev);
long sys_fchmod(int fd, int mode);
long sys_fchown(int fd, int uid, int gid);
long sys_unlink(const char *path);
long sys_unlinkat(int dirfd, const char *path, int flags);
long sys_rename(const char *oldpath, const char *newpath);
long sys_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
long sys_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                   unsigned flags);
long sys_link(const char *oldpath, const char *newpath);
long sys_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);
long sys_symlink(const char *target, const char *linkpath);
long sys_symlinkat(const char *target, int newdirfd, const char *linkpath);
long sys_chmod(const char *path, int mode);
long sys_fchmodat(int dirfd, const char *path, int mode);
long sys_chown(const char *path, int uid, int gid);
long sys_lchown(const char *path, int uid, int gid);
long sys_fchownat(int dirfd, const char *path, int uid, int gid, int flags);
long sys_utimensat(int dirfd, const char *path, const struct __kernel_timespec *times, int flags);
long sys_futimesat(int dirfd, const char *path, const struct __kernel_old_timeval *tv);
long sys_utime(const char *path, const struct utimbuf *times);
long sys_utimes(const char *path, const struct __kernel_old_timeval *tv);
long sys_truncate(const char *path, long length);
long sys_getdents64(int fd, void *buf, unsigned count);
long sys_getxattr(const char *path, const char *name, void *value, unsigned long size);
long sys_lgetxattr(const char *path, const char *name, void *value, unsigned long size);
long sys_fgetxattr(int fd, const char *name, void *value, unsigned long size);
long sys_listxattr(const char *path, char *list, unsigned long size);
long sys_llistxattr(const char *path, char *list, unsigned long size);
long sys_flistxattr(int fd, char *list, unsigned long size);
long sys_setxattr(const char *path, const char *name, const void *value, unsigned long size,
                  int flags);
long sys_lsetxattr(const char *path, const char *name, const void *value, unsigned long size,
                   int flags);
long sys_fsetxattr(int fd, const char *name, const void *value, unsigned long size, int flags);
long sys_removexattr(const char *path, const char *name);
long sys_lremovexattr(const char *path, const char *name);
long sys_fremovexattr(int fd, const char *name);
long sys_getdents(int fd, void *buf, unsigned count);

#endif
