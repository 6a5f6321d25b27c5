/* The kernel heap: power-of-two size classes carved from host pages, with
 * a free list per class; large blocks are their own mmap.  One lock: the
 * kernel allocates on open, not on the hot paths. */
#include "kernel.h"

#define MIN_SHIFT 4
#define MAX_SHIFT 16                 /* blocks up to 64 KiB come from classes */
#define CHUNK (256 * 1024UL)

struct hdr {
    unsigned long size;              /* class shift, or total mmap length for big blocks */
    unsigned long big;
};

static void *free_list[MAX_SHIFT + 1];
static char *arena, *arena_end;
static int heap_lock;

static void *host_pages(unsigned long len)
{
    long p = hsys6(__NR_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p < 0 && p > -4096 ? 0 : (void *)p;
}

/* A block that is its own mapping (kfree unmaps it). */
static void *own_pages(size_t need)
{
    unsigned long len = LS_PAGE_UP(need);
    struct hdr *h = host_pages(len);
    if (!h)
        return 0;
    h->size = len;
    h->big = 1;
    return h + 1;
}

void *kmalloc(size_t n)
{
    size_t need = n + sizeof(struct hdr);
    if (need > (1UL << MAX_SHIFT))
        return own_pages(need);
    int shift = MIN_SHIFT;
    while ((1UL << shift) < need)
        shift++;
    kspin_lock(&heap_lock);
    struct hdr *h = free_list[shift];
    if (h) {
        free_list[shift] = *(void **)h;
    } else {
        if (arena + (1UL << shift) > arena_end) {
            char *chunk = host_pages(CHUNK);
            if (!chunk) {
                kspin_unlock(&heap_lock);
                return 0;
            }
            arena = chunk;
            arena_end = arena + CHUNK;
        }
        h = (struct hdr *)arena;
        arena += 1UL << shift;
    }
    kspin_unlock(&heap_lock);
    h->size = shift;
    h->big = 0;
    return h + 1;
}

/* Fresh host pages are zero and cost nothing until touched: a zeroed block
 * of several pages is its own mapping, not cleared (an image guest's
 * fs_based, a byte per possible fd, would otherwise be 64 KiB of private
 * memory for every guest from its boot). */
void *kzalloc(size_t n)
{
    if (n >= 4 * LS_PAGE)
        return own_pages(n + sizeof(struct hdr));
    void *p = kmalloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void kfree(void *p)
{
    if (!p)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    if (h->big) {
        hsys2(__NR_munmap, (long)h, h->size);
        return;
    }
    unsigned long shift = h->size;      /* the link below overwrites the header */
    kspin_lock(&heap_lock);
    *(void **)h = free_list[shift];
    free_list[shift] = h;
    kspin_unlock(&heap_lock);
}

char *kstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kmalloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* In a forked child: the lock may have been held by a thread that the child does not have. */
void kmalloc_after_fork(void)
{
    heap_lock = 0;
}
