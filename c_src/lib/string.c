/* The few string and memory routines the kernel needs (the compiler also
 * emits calls to memcpy/memset/memmove/memcmp by itself).  The hot ones
 * (the path walk's, an fd entry's) go a word at a time: memory through
 * `word`, which may alias anything and sit anywhere; strlen reads aligned
 * words only, which never cross a page, so never past the page that holds
 * the string's NUL.  None of them touches guest memory (uaccess.S does). */
#include "libsubst/rt.h"
#include <stdint.h>

typedef uint64_t __attribute__((may_alias, aligned(1))) word;
typedef uint64_t __attribute__((may_alias)) aligned_word;

#define ONES 0x0101010101010101UL
#define HIGHS 0x8080808080808080UL
/* Non-zero if one of w's bytes is zero (exact: no false positive). */
#define HAS_ZERO(w) (((w) - ONES) & ~(w) & HIGHS)

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    for (; n >= 8; n -= 8, dp += 8, sp += 8)
        *(word *)dp = *(const word *)sp;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp < sp || dp >= sp + n)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *dp = d;
    uint64_t w = (unsigned char)c * ONES;
    for (; n >= 8; n -= 8, dp += 8)
        *(word *)dp = w;
    while (n--)
        *dp++ = (unsigned char)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n >= 8 && *(const word *)x == *(const word *)y; n -= 8, x += 8, y += 8)
        ;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    const char *p = s;
    for (; (uintptr_t)p & 7; p++)
        if (!*p)
            return p - s;
    const aligned_word *w = (const aligned_word *)p;
    while (!HAS_ZERO(*w))
        w++;
    for (p = (const char *)w; *p; p++)
        ;
    return p - s;
}

size_t strnlen(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i])
        i++;
    return i;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return 0;
    }
}

/* The byte loops a generated /proc file runs over its host file's lines
 * (synth_gen.c), each in one 64-byte block: wherever the link put
 * strrchr, its loop split across two ran at half the speed (pread of
 * /proc/self/stat, AMD EPYC: docs/performance.md). */
#define ONE_BLOCK __attribute__((aligned(64)))

ONE_BLOCK void *memchr(const void *s, int c, size_t n)
{
    for (const unsigned char *p = s; n--; p++)
        if (*p == (unsigned char)c)
            return (void *)p;
    return 0;
}

ONE_BLOCK char *strrchr(const char *s, int c)
{
    const char *last = 0;
    for (;; s++) {
        if (*s == (char)c)
            last = s;
        if (!*s)
            return (char *)last;
    }
}

size_t strlcpy(char *d, const char *s, size_t n)
{
    size_t len = strlen(s);
    if (n) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(d, s, k);
        d[k] = 0;
    }
    return len;
}
