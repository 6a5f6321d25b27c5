/*
 * /proc/<pid>/smaps and smaps_rollup (proc(5)): the host's, without the
 * kernel's own memory, as maps shows it.  smaps drops each hidden entry
 * with its field lines.  smaps_rollup is the host's in form (its fields, in
 * its order) with the totals of the shown entries of one read of smaps,
 * over their span (the vsyscall page is no mapping of the process's: smaps
 * shows it, the rollup leaves it out).  Its Pss_Anon, Pss_File and
 * Pss_Shmem, which smaps does not split per entry, take each entry's Pss by
 * its kind: its anonymous part (at most its Anonymous) as Pss_Anon, the
 * rest as Pss_Shmem for a shared memory file (memfd, /dev/shm, /dev/zero,
 * SysV), else as Pss_File.
 */
#include "synth.h"

enum { K_ANON, K_FILE, K_SHMEM };

static int is_header(const char *s)
{
    return (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f');
}

void synth_smaps_line(struct gbuf *g, char *s, size_t n)
{
    if (is_header(s))
        g->skip = !synth_maps_line(g, s, n);
    else if (!g->skip)
        synth_gput(g, s, n);
}

/* A field line "Name:   123 kB": its name's length (colon included) and
 * value; 0 if it is not one. */
static size_t field(const char *s, unsigned long *kb, const char **end)
{
    const char *c = strchr(s, ':');
    if (!c || c == s)
        return 0;
    const char *p = c + 1;
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        return 0;
    unsigned long v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    *kb = v;
    *end = p;
    return c + 1 - s;
}

/* The total of field name[0..len), made if make; NULL if none. */
static unsigned long *acc(struct gbuf *g, const char *name, size_t len, int make)
{
    for (int i = 0; i < g->nacc; i++)
        if (strlen(g->acc[i].name) == len && strncmp(g->acc[i].name, name, len) == 0)
            return &g->acc[i].kb;
    if (!make || g->nacc == (int)LS_ARRAY_SIZE(g->acc) || len >= sizeof g->acc[0].name)
        return 0;
    memcpy(g->acc[g->nacc].name, name, len);
    g->acc[g->nacc].name[len] = 0;
    g->acc[g->nacc].kb = 0;
    return &g->acc[g->nacc++].kb;
}

static void add(struct gbuf *g, const char *name, unsigned long kb)
{
    unsigned long *a = acc(g, name, strlen(name), 1);
    if (a)
        *a += kb;
}

/* The shown entry just read: its Pss split by kind. */
static void split_pss(struct gbuf *g)
{
    if (g->skip)
        return;
    unsigned long anon = g->anon < g->pss ? g->anon : g->pss;
    add(g, "Pss_Anon:", g->kind == K_ANON ? g->pss : anon);
    if (g->kind != K_ANON)
        add(g, g->kind == K_SHMEM ? "Pss_Shmem:" : "Pss_File:", g->pss - anon);
    g->pss = g->anon = 0;
}

static int kind_of(const char *s)
{
    const char *p = s;
    for (int field = 0; field < 5; field++) {     /* address perms offset dev inode */
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    if (*p != '/')
        return K_ANON;
    static const char *const shm[] = {"/memfd:", "/dev/shm/", "/dev/zero", "/SYSV"};
    for (int i = 0; i < (int)LS_ARRAY_SIZE(shm); i++)
        if (strncmp(p, shm[i], strlen(shm[i])) == 0)
            return K_SHMEM;
    return K_FILE;
}

static void line_shown(struct gbuf *g, char *s, size_t n)
{
    static const char vsyscall[] = "[vsyscall]\n";
    unsigned long lo, hi, kb;
    const char *end;
    if (is_header(s)) {
        split_pss(g);
        g->skip = synth_maps_hidden(g, s, &lo, &hi);
        g->kind = kind_of(s);
        /* The span is the process's own mappings' (not the vsyscall page). */
        if (!g->skip && !(n >= sizeof vsyscall - 1 &&
                           strcmp(s + n - (sizeof vsyscall - 1), vsyscall) == 0)) {
            if (lo < g->lo)
                g->lo = lo;
            if (hi > g->hi)
                g->hi = hi;
        }
        return;
    }
    size_t len = field(s, &kb, &end);
    if (g->skip || !len)
        return;
    unsigned long *a = acc(g, s, len, 1);
    if (a)
        *a += kb;
    if (len == 4 && strncmp(s, "Pss:", 4) == 0)
        g->pss = kb;
    else if (len == 10 && strncmp(s, "Anonymous:", 10) == 0)
        g->anon = kb;
}

static void line_rollup(struct gbuf *g, char *s, size_t n)
{
    unsigned long kb;
    const char *end;
    char tmp[96];
    if (is_header(s)) {
        /* Linux's: the span, then the name at column 73. */
        ksnprintf(tmp, sizeof tmp, "%08lx-%08lx ---p 00000000 00:00 0 ",
                  g->lo < g->hi ? g->lo : 0, g->hi);
        synth_gputs(g, tmp);
        for (int k = strlen(tmp); k < 72; k++)
            synth_gputs(g, " ");
        synth_gputs(g, " [rollup]\n");
        return;
    }
    size_t len = field(s, &kb, &end);
    unsigned long *a = len ? acc(g, s, len, 0) : 0;
    if (!a) {
        synth_gput(g, s, n);
        return;
    }
    /* The total, right-aligned where the host's value ends. */
    int width = end - (s + len);
    ksnprintf(tmp, sizeof tmp, "%lu", *a);
    synth_gput(g, s, len);
    for (int k = strlen(tmp); k < width; k++)
        synth_gputs(g, " ");
    synth_gputs(g, tmp);
    synth_gputs(g, end);
}

long synth_put_smaps_rollup(struct gbuf *g)
{
    char hp[64];
    g->nacc = 0;
    g->skip = 0;
    g->pss = g->anon = 0;
    g->lo = ~0UL;
    g->hi = 0;
    add(g, "Pss_Anon:", 0);         /* totals even where no entry has a part of that kind */
    add(g, "Pss_File:", 0);
    add(g, "Pss_Shmem:", 0);
    long r = synth_host_lines(g, synth_task_path(g, hp, sizeof hp, "/smaps"), line_shown);
    split_pss(g);
    if (r < 0)
        return r;
    return synth_host_lines(g, synth_task_path(g, hp, sizeof hp, "/smaps_rollup"), line_rollup);
}
