/*
 * The synthetic trees' node table (synth.c), shared by synth_lookup.c
 * (names), synth_node.c (links, stat, open, access), synth_dir.c (listing)
 * and the generators (synth_gen.c and the files it calls).  A synthetic id is an index into
 * synth_gtab (absolute paths), SID_P + an index into synth_ptab (paths below
 * /proc/<pid>), SID_FDLINK / SID_FDHOST with the fd as argument, or SID_N +
 * an index into synth_ntab (below /sys/class/net/<if>, the ifindex as
 * argument).
 */
#ifndef LS_FS_SYNTH_H
#define LS_FS_SYNTH_H

#include "fs.h"

/* Link kinds (ST_LINK's gen); SL_NS: the host's link of the same task,
 * which names a namespace ("user:[4026531837]") and leads to it (SID_NSHOST). */
enum { SL_SELF = 1, SL_THREAD, SL_FIXED, SL_EXE, SL_CWD, SL_ROOT, SL_NS };

struct synth_ent {
    const char *path;
    unsigned char type, gen;    /* ST_*; SG_* for files, SL_* for links */
    const char *aux;            /* SL_FIXED: the target; SG_TEXT: the contents */
    unsigned char host_rw;      /* a file Linux lets its process write: the host's,
                                   of the same task, is opened to write (synth_node.c) */
};

/* A synthetic file being generated (synth_gen.c): a buffer flushed to its
 * memfd (fd), or to out when fd is -1. */
struct gbuf {
    int fd;
    struct kgen *out;
    size_t cap;                      /* bytes out has room for */
    long src;                        /* the host file the guest's fd is, read where fill */
    const char *src_path;            /* would open src_path (-1: none) */
    long tid;                        /* the thread whose file it is; 0: the process */
    long other;                      /* another process's pid (tid is its task), or 0 */
    struct kproc_slot *slot;         /* other's slot, or NULL if it has none */
    char state;                      /* other's state letter ('Z': a zombie) */
    const void *ctx;                 /* a generator's own state (synth_net.c) */
    long err;
    size_t n;                        /* bytes in b */
    size_t size;                     /* bytes in the memfd before them */
    char comm[16];
    /* smaps (synth_smaps.c): whether the entry being read is hidden; for
     * smaps_rollup, the hidden entries' totals per field and the span of
     * the shown ones. */
    char skip, kind;
    /* maps: the last image entry named and its dev and inode as the
     * guest's fstat gives them (synth_gen.c's put_maps_ids). */
    int ids_ent;
    char ids[40];
    int nacc;
    unsigned long lo, hi, pss, anon;
    struct { char name[24]; unsigned long kb; } acc[32];
    char b[2048];
    char in[4096];                   /* the host file's bytes, as read */
    char line[LS_PATH_MAX + 256];
    char name[LS_PATH_MAX];
};

void synth_gput(struct gbuf *g, const char *s, size_t n);
void synth_gputs(struct gbuf *g, const char *s);
/* Host file path copied whole, or line by line through fn (synth_gen.c). */
long synth_host_copy(struct gbuf *g, const char *path);
long synth_host_lines(struct gbuf *g, const char *path,
                      void (*fn)(struct gbuf *, char *, size_t));
/* synth_net.c: /proc/<pid>/net/name, of the guest's network namespace;
 * /sys/class/net/<if>/file (synth_ntab, SID_N + index, arg the ifindex). */
long synth_put_net(struct gbuf *g, const char *name);
long synth_put_netif(struct gbuf *g, const char *file, long index);
extern const struct synth_ent synth_ntab[];
extern const int synth_nn;
long synth_netif_index(const char *name, size_t n);     /* its ifindex, or -ENOENT */
int synth_netif_lookup(const char *s, struct fs_obj *o);  /* s: below /sys/class/net/ */
long synth_netif_name(long index, char *name);          /* name: 16 bytes; 0 or -ENOENT */
void synth_each_netif(void (*fn)(void *, long), void *arg);
/* synth_mounts.c: the mount tables in form MOUNTS_*, a cgroup limit file. */
enum { MOUNTS_TABLE, MOUNTS_INFO, MOUNTS_STATS };
void synth_put_mounts(struct gbuf *g, int form);
long synth_put_cgroup(struct gbuf *g, const char *name);
/* A line of /proc/<pid>/limits, the open files' limits as the guest's (synth_mounts.c). */
void synth_put_limit(struct gbuf *g, char *line, size_t n);

/* The host's link of ptab entry id (a namespace's) of task (0: this process). */
void synth_ns_path(long task, int id, char *buf, size_t cap);

/* The host's proc file name of g's process or thread (synth_gen.c). */
const char *synth_task_path(struct gbuf *g, char *buf, size_t cap, const char *name);
/* The host's /proc file name of the process (tid 0) or of thread tid;
 * other: whether tid is another process's task. */
const char *synth_host_task_path(long tid, long other, char *buf, size_t cap, const char *name);
/* A maps line: whether its range is the kernel's own (hidden from the
 * guest), its range in *lo, *hi; puts a shown one with its guest name (1). */
int synth_maps_hidden(struct gbuf *g, const char *s, unsigned long *lo, unsigned long *hi);
int synth_maps_line(struct gbuf *g, char *s, size_t n);
/* synth_mem.c: whether [lo, hi) overlaps the kernel's own memory, this
 * process's (other 0) or another's as its slot says; an open of node n, a
 * mem or pagemap file. */
int synth_kernel_range(long other, const struct kproc_slot *slot, unsigned long lo,
                       unsigned long hi);
long synth_mem_open(const struct fs_node *n, int flags);
/* synth_smaps.c: /proc/<pid>/smaps (a line at a time) and smaps_rollup. */
void synth_smaps_line(struct gbuf *g, char *s, size_t n);
long synth_put_smaps_rollup(struct gbuf *g);

/* Generates the contents of synthetic file e (of thread tid, 0: the
 * process) into a sealed memfd. */
long synth_generate(const struct synth_ent *e, long tid, int cloexec);

#define SID_P 0x100
extern const struct synth_ent synth_gtab[];
extern const int synth_ng;
/* synth_index.c's index sizes: powers of two, at least twice their table
 * (synth.c asserts it when it is compiled). */
#define SYNTH_GSLOTS 512
#define SYNTH_PSLOTS 256
extern const struct synth_ent synth_ptab[];
extern const int synth_np;
/* The node of synthetic id, any id synth_lookup gives. */
const struct synth_ent *synth_entry(int id);
/* Whether id is below /proc/<pid> (ptab entries, fd links, fdinfo). */
int synth_per_process(int id);
/* The device of id's tree: FS_DEV_PROC, FS_DEV_SYS or FS_DEV_DEV. */
unsigned long synth_tree_dev(int id);

/* Whether path p is top or below it. */
static inline int synth_under(const char *p, const char *top)
{
    size_t n = strlen(top);
    return strncmp(p, top, n) == 0 && (p[n] == 0 || p[n] == '/');
}

int synth_have_tty(void);
/* Parses a decimal number that runs to the end of *s or to a '/'; -1 if none. */
long synth_parse_num(const char **s);

/* Other processes (synth_proc.c).  task: a host task id of the guest's
 * pid namespace; its process's pid, or 0 if it is this process (or one of
 * its threads), -ESRCH if it is gone. */
struct kproc_slot;
long synth_task_tgid(long task);
/* /proc/<pid><s> of another process; -ENOENT if there is none. */
int synth_lookup_other(long pid, const char *s, struct fs_obj *o);
/* Whether the caller may open task's entry name (the host's answer). */
long synth_other_access(long task, const char *name, int dir);
/* A copy of task's process's slot in *slot (NULL if it has none; the
 * caller frees it) and its state letter; its pid, or -errno. */
long synth_other_slot(long task, struct kproc_slot **slot, char *state);
/* The host's /proc/<pid>/fd/<fd> of an SID_OFDLINK or SID_OFDHOST argument. */
void synth_other_fd_path(long arg, char *buf, size_t cap);
/* The target of another process's exe or cwd (kind: SL_*) or fd link. */
long synth_other_link(const struct fs_obj *o, int kind, char *dst, size_t cap);

#endif
