/*
 * What makes a path of the synthetic trees cheap to classify: each table's
 * names in an open-addressed index (synth_lookup: a hash and a compare, not
 * a scan of the table), and for each tree (/proc, /sys, /dev) what else may
 * serve a path in it (fs_classify): the volumes mounted at or below its top
 * and whether the image has a file or link there, which shadows the table.
 * Both are made once at boot (fs_init) from what stays fixed until the next
 * one: the tables, the mount table, the image.  A tree with neither is the
 * table's alone, and a walk there skips the layer's cache, the image's
 * lookup and the mount table's, none of which can find its paths: the
 * cache holds only what those found (upper_cache.c).
 */
#include "synth.h"

#define GSLOTS SYNTH_GSLOTS
#define PSLOTS SYNTH_PSLOTS
_Static_assert(!(GSLOTS & (GSLOTS - 1)) && !(PSLOTS & (PSLOTS - 1)), "index sizes are powers of two");

static short gidx[GSLOTS], pidx[PSLOTS];    /* an entry's index + 1; 0: empty */

static const char *const tops[] = {"/proc", "/sys", "/dev"};

static struct {
    int img_files, nvol;
    int *vol;                       /* the mounts at or below the top */
} trees[LS_ARRAY_SIZE(tops)];

static void index_build(short *idx, int slots, const struct synth_ent *tab, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t h = path_hash(tab[i].path, strlen(tab[i].path));
        for (;; h++) {
            short *s = &idx[h & (slots - 1)];
            if (!*s) {
                *s = i + 1;
                break;
            }
            if (strcmp(tab[*s - 1].path, tab[i].path) == 0)
                break;              /* the first of a name wins, as in a scan */
        }
    }
}

static int index_find(const short *idx, int slots, const struct synth_ent *tab, const char *p)
{
    for (uint32_t h = path_hash(p, strlen(p));; h++) {
        int i = idx[h & (slots - 1)] - 1;
        if (i < 0 || strcmp(tab[i].path, p) == 0)
            return i;
    }
}

int synth_gfind(const char *p)
{
    return index_find(gidx, GSLOTS, synth_gtab, p);
}

int synth_pfind(const char *s)
{
    return index_find(pidx, PSLOTS, synth_ptab, s);
}

int synth_index_init(void)
{
    index_build(gidx, GSLOTS, synth_gtab, synth_ng);
    index_build(pidx, PSLOTS, synth_ptab, synth_np);
    for (size_t t = 0; t < LS_ARRAY_SIZE(tops); t++) {
        trees[t].img_files = img_files_at_or_below(tops[t]);
        trees[t].nvol = 0;
        trees[t].vol = kmalloc((fs_nmnt + 1) * sizeof(int));
        if (!trees[t].vol)
            return -ENOMEM;
        for (int m = 0; m < fs_nmnt; m++)
            if (vol_at_or_below(m, tops[t]))
                trees[t].vol[trees[t].nvol++] = m;
    }
    return 0;
}

/* Asked at every step of a walk: the top picked by its first letter and
 * compared inline. */
int synth_tree_of(const char *p)
{
    int t = p[0] != '/' ? -1 : p[1] == 'p' ? 0 : p[1] == 's' ? 1 : p[1] == 'd' ? 2 : -1;
    if (t < 0)
        return -1;
    const char *top = tops[t];
    while (*top && *p == *top)
        p++, top++;
    return !*top && (*p == 0 || *p == '/') ? t : -1;
}

int synth_tree_alone(int t)
{
    return !trees[t].img_files && !trees[t].nvol;
}

int synth_tree_img(int t)
{
    return trees[t].img_files;
}

int synth_tree_vol(int t, const char *p)
{
    return vol_find_among(trees[t].vol, trees[t].nvol, p);
}
