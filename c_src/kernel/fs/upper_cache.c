/*
 * The writable root's lookup cache: what upper_classify found for a guest
 * path in the layer (a stub and its image entry, or the layer's own file
 * and its type), so that a walk through the image's directories pays
 * neither a host lstat nor fs_classify's other checks per component; and,
 * while there is a layer, fs_classify's answers for image files and
 * volumes, which depend on the mount table alone, and a walk's below a
 * volume that nothing lies under (path.c), lexical for the same reason.
 *
 * A name that appears changes nothing already cached of names that exist;
 * one that goes or is replaced does, and every change of that kind --
 * unlink, rmdir, rename, copy-up (a stub swapped for its copy) -- is
 * followed by a bump of the layer's generation in the memory every process
 * of the guest shares (mm/shared.c).  An entry is used only while the
 * generation it was looked up under is the current one, so a change made
 * by any process of the guest is seen by all of them from the moment the
 * call that made it returns.  The generation is read before the host
 * lstat: a change racing the lookup leaves the entry already stale.
 *
 * A name the layer has not got is cached too (an *absent* entry: a PATH
 * search's or an import's miss, a tmpfs keeping no negative dentries, cost
 * more than a native miss on disk), valid while neither that generation
 * nor the layer's count of names made has moved: every call that may make
 * a name there -- open with O_CREAT, mkdir, mknod, symlink, link, rename,
 * a Unix socket's bind -- bumps the count after its host call
 * (upper_made).  The layer is a tmpfs the tender mounts in the guest's own
 * mount namespace (upper_init: a scratch mount at "/", never a host
 * directory), so no writer but the guest's processes, all of which share
 * the count, makes a name in it.
 *
 * The generation is guest-writable memory: a forged one can only make the
 * guest see its own layer wrongly.  Whatever a cached entry says, the host
 * call that follows opens beneath the layer's root (volume.c) or reads the
 * image, as without the cache.
 *
 * Direct-mapped, one slot per path hash; a thread that finds the lock taken
 * asks the host instead of waiting.
 */
#include "fs.h"

#define SLOTS 2048                  /* a power of two */

struct slot {
    char *path;                     /* NULL: empty */
    uint64_t gen, made;             /* made: an absent entry's count of names made */
    uint32_t hash, len;
    struct fs_obj o;                /* o.type 0: absent */
};
static struct slot slots[SLOTS];
static int lock;

/* The hash of p (n bytes): its length, then the path a word at a time,
 * each mixed in by a multiply and a shift (a byte at a time, the hash was
 * most of a cached stat's own time in the guest kernel: perf); the
 * synthetic tables' indexes use it too (synth_index.c). */
uint32_t path_hash(const char *p, size_t n)
{
    size_t i = 0;
    uint64_t h = n * 0x9e3779b97f4a7c15ULL, w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return (uint32_t)(h ^ (h >> 32));
}

uint64_t upper_gen(void)
{
    return __atomic_load_n(&K_shared->layer_gen, __ATOMIC_ACQUIRE);
}

void upper_changed(void)
{
    __atomic_fetch_add(&K_shared->layer_gen, 1, __ATOMIC_RELEASE);
}

uint64_t upper_made_count(void)
{
    return __atomic_load_n(&K_shared->layer_made, __ATOMIC_ACQUIRE);
}

int upper_making_none(void)
{
    return __atomic_load_n(&K_shared->layer_making, __ATOMIC_ACQUIRE) == 0;
}

void upper_making(int m)
{
    if (m == fs_upper && m >= 0)
        __atomic_fetch_add(&K_shared->layer_making, 1, __ATOMIC_ACQ_REL);
}

void upper_made(int m)
{
    if (m == fs_upper && m >= 0) {
        __atomic_fetch_add(&K_shared->layer_made, 1, __ATOMIC_RELEASE);
        __atomic_fetch_sub(&K_shared->layer_making, 1, __ATOMIC_RELEASE);
    }
}

int upper_cache_get(const char *p, uint64_t gen, struct fs_obj *o)
{
    return upper_cache_get_len(p, strlen(p), gen, o);
}

int upper_cache_get_len(const char *p, size_t len, uint64_t gen, struct fs_obj *o)
{
    uint32_t h = path_hash(p, len);
    struct slot *s = &slots[h & (SLOTS - 1)];
    int hit = 0;
    if (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
        return 0;
    if (s->path && s->gen == gen && s->hash == h && s->len == len && memcmp(s->path, p, len) == 0) {
        if (s->o.type) {
            *o = s->o;
            hit = 1;
        } else if (s->made == upper_made_count() && upper_making_none()) {
            hit = -ENOENT;
        }
    }
    kspin_unlock(&lock);
    return hit;
}

static void put(const char *p, uint64_t gen, uint64_t made, const struct fs_obj *o)
{
    size_t len = strlen(p);
    uint32_t h = path_hash(p, len);
    struct slot *s = &slots[h & (SLOTS - 1)];
    char *copy = kmalloc(len + 1), *old = copy;
    if (!copy)
        return;
    memcpy(copy, p, len + 1);
    if (!__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) {
        old = s->path;
        *s = (struct slot){.path = copy, .gen = gen, .made = made, .hash = h, .len = len, .o = *o};
        kspin_unlock(&lock);
    }
    kfree(old);
}

void upper_cache_put(const char *p, uint64_t gen, const struct fs_obj *o)
{
    put(p, gen, 0, o);
}

void upper_cache_absent(const char *p, uint64_t gen, uint64_t made)
{
    put(p, gen, made, &(struct fs_obj){0});
}

void upper_cache_after_fork(void)
{
    lock = 0;
}
