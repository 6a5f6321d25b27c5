/*
 * The guest's process table: one slot per process in the memory the
 * guest's processes share (mm/shared.c), so one process's /proc shows the
 * others as Linux does.  The host's /proc of the guest's pid namespace
 * already has what is true there (state, times, ids, ppid, memory); a slot
 * holds what the host cannot know: the guest's command line, environment,
 * executable, cwd, root, command name, and which of its mappings and fds are
 * the kernel's own.
 *
 * Each process writes only its own slot, under the slot's seqlock; readers
 * copy the slot and retry while a write is under way.  A process killed
 * by the host cannot free its slot: a slot is taken over when the host no
 * longer has a process of its pid with its starttime.  The table is guest
 * memory: readers bound every length (ptable_get) and use it only for what
 * the guest is shown.
 */
#include "proc/ptable.h"
#include "proc/proc.h"
#include "fs/fs.h"

static int my_slot = -1;
static int wlock;                    /* the threads of this process, writing its slot */

static struct kproc_slot *mine(void)
{
    return K_shared && my_slot >= 0 ? &K_shared->procs[my_slot] : 0;
}

static void wbegin(struct kproc_slot *s)
{
    kspin_lock(&wlock);
    /* The next odd count: a slot taken over from a process killed while it
     * wrote is odd already, and would stay odd (unreadable) after wend. */
    __atomic_store_n(&s->seq, (s->seq + 1) | 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void wend(struct kproc_slot *s)
{
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
    kspin_unlock(&wlock);
}

long ptable_host_stat(long pid, char *state, uint64_t *start)
{
    char path[40], buf[512];
    if (pid)
        ksnprintf(path, sizeof path, "/proc/%ld/stat", pid);
    else
        strlcpy(path, "/proc/self/stat", sizeof path);
    long fd = hsys4(__NR_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -ESRCH;
    long n = hsys3(__NR_read, fd, (long)buf, sizeof buf - 1);
    hsys1(__NR_close, fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = 0;
    /* After the command name's ')': the state (field 3), then field 22. */
    const char *p = buf;
    for (const char *q = buf; *q; q++)
        if (*q == ')')
            p = q;
    if (*p != ')' || p[1] != ' ')
        return -ESRCH;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22 && *p; p++)
        if (*p == ' ')
            field++;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    *start = v;
    return 0;
}

/* Whether slot s's process is gone (its pid free, or reused). */
static int stale(const struct kproc_slot *s, int32_t pid)
{
    char state;
    uint64_t start;
    if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) & 1)
        return 0;                    /* being written: its owner lives */
    return ptable_host_stat(pid, &state, &start) < 0 || start != s->start;
}

/* Takes a slot for this process: its own (an execve keeps the pid and the
 * starttime), a free one, or a stale one.  -1 if the table is full. */
static int claim(int32_t pid)
{
    int32_t *owner = K_shared->proc_owner;
    for (int i = 0; i < PT_SLOTS; i++)
        if (__atomic_load_n(&owner[i], __ATOMIC_ACQUIRE) == pid)
            return i;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < PT_SLOTS; i++) {
            int32_t old = __atomic_load_n(&owner[i], __ATOMIC_ACQUIRE);
            if ((pass == 0 ? old != 0 : old <= 0 || !stale(&K_shared->procs[i], old)))
                continue;
            if (__atomic_compare_exchange_n(&owner[i], &old, pid, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_RELAXED))
                return i;
        }
    return -1;
}

static uint16_t put_vec(char *dst, size_t cap, unsigned count, const char *const *v)
{
    size_t n = 0;
    for (unsigned i = 0; i < count; i++) {
        const char *s = v[i];
        size_t k = strlen(s) + 1;
        if (n + k > cap)
            break;
        memcpy(dst + n, s, k);
        n += k;
    }
    return n;
}

static uint16_t put_path(char *dst, const char *src)
{
    size_t n = strlcpy(dst, src, PT_PATH);
    return n < PT_PATH ? n : PT_PATH - 1;
}

static void add_range(unsigned long start, unsigned long end)
{
    struct kproc_slot *s = mine();
    if (s && s->nkr < PT_KRANGES) {
        s->kr[s->nkr].start = start;
        s->kr[s->nkr].end = end;
        s->nkr++;
    }
}

/* The program's part of a slot, as execve sets it. */
static void put_prog(struct kproc_slot *s, const struct exec_args *a)
{
    const char *name = a->execfn;
    if (!*name && a->argc)
        name = a->argv[0];
    strlcpy(s->comm, path_base(name), sizeof s->comm);
    s->exe_len = put_path(s->exe, a->exe);
    s->args_len = put_vec(s->args, PT_ARGS, a->argc, a->argv);
    s->env_len = put_vec(s->env, PT_ENV, a->envc, a->envp);
}

void ptable_boot(void)
{
    char state;
    uint64_t start;
    int32_t pid = hsys0(__NR_getpid);
    if (!K_shared || ptable_host_stat(0, &state, &start) < 0 || (my_slot = claim(pid)) < 0)
        return;
    struct kproc_slot *s = mine();
    char *cwd = kmalloc(LS_PATH_MAX);
    if (cwd)
        cwd_get(cwd);
    wbegin(s);
    s->pid = pid;
    s->start = start;
    s->kfd_floor = K.nofile_limit;
    put_prog(s, ls_prog);
    memcpy(s->text, ls_text, sizeof s->text);
    s->cwd_len = put_path(s->cwd, cwd ? cwd : "/");
    s->root_len = put_path(s->root, fs_root() ? fs_root() : "/");
    s->nkr = 0;
    mm_each_kernel(add_range);
    memcpy(s->auxv, ls_saved_auxv, ls_saved_auxv_len);
    s->auxv_len = ls_saved_auxv_len;
    s->start_stack = ls_start_stack;
    wend(s);
    kfree(cwd);
}

int ptable_fork_begin(void)
{
    struct kproc_slot *parent = mine();
    int32_t mark = -(int32_t)hsys0(__NR_gettid);    /* this thread's fork, not yet a pid */
    int i = parent ? claim(mark) : -1;
    if (i < 0)
        return -1;
    struct kproc_slot *s = &K_shared->procs[i];
    wbegin(s);                       /* wlock: no other thread writes the parent's meanwhile */
    uint32_t seq = s->seq;
    memcpy(s, parent, sizeof *s);
    s->seq = seq;
    s->pid = 0;                      /* the child's, until it says which (ptable_after_fork) */
    s->start = 0;
    wend(s);
    return i;
}

void ptable_fork_end(int slot, long child)
{
    int32_t mark = -(int32_t)hsys0(__NR_gettid);
    if (slot >= 0)                   /* unless the child took it already */
        __atomic_compare_exchange_n(&K_shared->proc_owner[slot], &mark, child > 0 ? child : 0, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void ptable_after_fork(int slot)
{
    struct kproc_slot *parent = mine();
    char state;
    uint64_t start;
    wlock = 0;                       /* another thread's hold did not come along */
    my_slot = -1;
    int32_t pid = hsys0(__NR_getpid);
    if (!parent || ptable_host_stat(0, &state, &start) < 0)
        return;
    if (slot >= 0) {                 /* the parent's copy, made before the fork */
        my_slot = slot;
        __atomic_store_n(&K_shared->proc_owner[slot], pid, __ATOMIC_RELEASE);
        struct kproc_slot *s = mine();
        wbegin(s);
        s->pid = pid;
        s->start = start;
        wend(s);
        return;
    }
    if ((my_slot = claim(pid)) < 0)
        return;
    struct kproc_slot *s = mine();
    wbegin(s);
    uint32_t seq = s->seq;
    /* The parent's other threads may be writing its slot: a consistent copy. */
    for (int tries = 0; tries < 64; tries++) {
        uint32_t pseq = __atomic_load_n(&parent->seq, __ATOMIC_ACQUIRE);
        memcpy(s, parent, sizeof *s);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(pseq & 1) && __atomic_load_n(&parent->seq, __ATOMIC_RELAXED) == pseq)
            break;
    }
    s->seq = seq;
    s->pid = pid;
    s->start = start;
    wend(s);
}

void ptable_become_init(void)
{
    static const char *const argv[] = {"init"};
    static const struct exec_args init = {.exe = "", .execfn = "init", .argv = argv, .argc = 1};
    struct kproc_slot *s = mine();
    if (!s)
        return;
    wbegin(s);
    put_prog(s, &init);
    s->auxv_len = 0;                 /* none, as a kernel thread's */
    wend(s);
}

struct kproc_slot *ptable_exec(const struct exec_args *a)
{
    struct kproc_slot *s = mine(), *old = s ? kmalloc(sizeof *old) : 0;
    if (!old)
        return 0;
    wbegin(s);
    memcpy(old, s, sizeof *old);
    put_prog(s, a);
    s->auxv_len = 0;                 /* the new program's is the next kernel's (ptable_boot) */
    wend(s);
    return old;
}

void ptable_exec_failed(struct kproc_slot *old)
{
    struct kproc_slot *s = mine();
    if (s && old) {
        wbegin(s);
        memcpy(s->comm, old->comm, sizeof s->comm);
        memcpy(s->exe, old->exe, sizeof s->exe);
        memcpy(s->args, old->args, sizeof s->args);
        memcpy(s->env, old->env, sizeof s->env);
        s->exe_len = old->exe_len;
        s->args_len = old->args_len;
        s->env_len = old->env_len;
        memcpy(s->auxv, old->auxv, sizeof s->auxv);
        s->auxv_len = old->auxv_len;
        wend(s);
    }
    kfree(old);
}

/* The slot's cwd, or its root if root, is path now. */
static void set_path(int root, const char *path)
{
    struct kproc_slot *s = mine();
    if (!s)
        return;
    wbegin(s);
    if (root)
        s->root_len = put_path(s->root, path);
    else
        s->cwd_len = put_path(s->cwd, path);
    wend(s);
}

void ptable_set_cwd(const char *path)
{
    set_path(0, path);
}

void ptable_set_root(const char *path)
{
    set_path(1, path);
}

void ptable_note_kernel(unsigned long start, unsigned long end)
{
    struct kproc_slot *s = mine();
    if (!s)
        return;
    wbegin(s);
    add_range(start, end);
    wend(s);
}

/* Whether process pid, slot s's owner, has not exited: a zombie's program
 * is no longer running (Linux lets it be written once its mm is gone). */
static int runs(const struct kproc_slot *s, int32_t pid)
{
    char state;
    uint64_t start;
    return ptable_host_stat(pid, &state, &start) == 0 && start == s->start && state != 'Z' &&
           state != 'X';
}

/* The slots are read without their seqlock: a slot being rewritten by an
 * execve may match or not, as the exec would race the write on Linux too;
 * a forged one only makes the guest's own writes fail. */
long ptable_text_busy(const struct ktext *id)
{
    for (int i = 0; K_shared && id->ino && i < PT_SLOTS; i++) {
        int32_t pid = __atomic_load_n(&K_shared->proc_owner[i], __ATOMIC_ACQUIRE);
        const struct kproc_slot *s = &K_shared->procs[i];
        if (pid <= 0)
            continue;
        for (int t = 0; t < 2; t++)
            if (s->text[t].ino == id->ino && s->text[t].dev == id->dev && runs(s, pid))
                return -ETXTBSY;
    }
    return 0;
}

int ptable_runs_files(void)
{
    for (int i = 0; K_shared && i < PT_SLOTS; i++) {
        const struct kproc_slot *s = &K_shared->procs[i];
        if (__atomic_load_n(&K_shared->proc_owner[i], __ATOMIC_ACQUIRE) > 0 &&
            ((s->text[0].ino && !s->text[0].stub) || (s->text[1].ino && !s->text[1].stub)))
            return 1;
    }
    return 0;
}

long ptable_get(long pid, uint64_t start, struct kproc_slot *out)
{
    if (!K_shared || pid <= 0)
        return -ESRCH;
    const struct kproc_slot *t = K_shared->procs;
    for (int i = 0; i < PT_SLOTS; i++) {
        if (__atomic_load_n(&K_shared->proc_owner[i], __ATOMIC_ACQUIRE) != pid)
            continue;
        /* A writer mid-write may have been preempted (on a loaded machine,
         * for milliseconds: yield to it) or killed (give up at last). */
        for (int tries = 0; tries < 1024; tries++) {
            uint32_t seq = __atomic_load_n(&t[i].seq, __ATOMIC_ACQUIRE);
            if (seq & 1) {
                if (tries < 64)
                    __builtin_ia32_pause();
                else
                    hsys0(__NR_sched_yield);
                continue;
            }
            memcpy(out, &t[i], sizeof *out);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&t[i].seq, __ATOMIC_RELAXED) != seq)
                continue;
            /* pid 0: a child forked a moment ago, its parent's copy (a
             * child killed before it ran leaves one until its pid's next
             * process takes the slot over). */
            if ((out->pid != pid || out->start != start) && (out->pid || out->start))
                break;
            /* Bounded, whatever the slot says. */
            out->comm[sizeof out->comm - 1] = 0;
            if (out->nkr > PT_KRANGES)
                out->nkr = PT_KRANGES;
            if (out->exe_len >= PT_PATH)
                out->exe_len = PT_PATH - 1;
            if (out->cwd_len >= PT_PATH)
                out->cwd_len = PT_PATH - 1;
            if (out->root_len >= PT_PATH)
                out->root_len = PT_PATH - 1;
            out->exe[out->exe_len] = out->cwd[out->cwd_len] = out->root[out->root_len] = 0;
            if (out->args_len > PT_ARGS)
                out->args_len = PT_ARGS;
            if (out->env_len > PT_ENV)
                out->env_len = PT_ENV;
            if (out->auxv_len > sizeof out->auxv)
                out->auxv_len = sizeof out->auxv;
            return 0;
        }
    }
    return -ESRCH;
}
