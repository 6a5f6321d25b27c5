/* The caller's part of a cached plan (plancache.h).  The variables planning
 * read must have the values it read; a program's guest gets the caller's
 * environment as the Python CLI makes it — dict(os.environ) (a name at its
 * first place with its last value; entries without '=' dropped), updated
 * with run's --env — and the program's own arguments, so the cached block's
 * envp and argv are rewritten with them. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "libsubst/bootinfo.h"
#include "libsubst/plancache.h"
#include "frontend.h"

static size_t name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* The value of `name` (len bytes) as os.environ has it: the last one, or NULL. */
static const char *value_of(char **envp, const char *name, size_t len)
{
    const char *found = NULL;
    for (char **e = envp; *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            found = *e + len + 1;
    return found;
}

int env_deps_hold(const struct entry *e, char **envp)
{
    const struct ls_plan_head *h = e->head;
    for (uint32_t i = 0; i < h->n_env_deps; i++) {
        const char *dep = entry_item(e, h->env_deps_off, i);
        if (!dep)
            return 0;
        size_t len = name_len(dep);
        const char *now = value_of(envp, dep, len);
        if (dep[len] == '=' ? !now || strcmp(now, dep + len + 1) != 0 : now != NULL)
            return 0;
    }
    return 1;
}

/* Appends the uint32 array of n string offsets after the strings, each
 * 8-byte aligned as the boot-info block's parts are; its offset. */
static uint32_t put_offsets(struct buf *block, const uint32_t *offs, size_t n)
{
    while (block->n % 8)
        buf_add(block, "", 1);
    uint32_t at = block->n;
    buf_add(block, offs, n * sizeof *offs);
    while (block->n % 8)
        buf_add(block, "", 1);
    return at;
}

/* Appends the guest's environment to `block` (the cached boot-info block)
 * and points its envp there. */
void guest_env(const struct entry *e, char **envp, struct buf *block)
{
    const struct ls_plan_head *h = e->head;
    size_t n = 0, cap = 16;
    const char **names = malloc(cap * sizeof *names);   /* "K=V" whose K comes first */
    const char **values = malloc(cap * sizeof *values);
    for (int pass = 0; pass < 2; pass++) {
        uint32_t count = pass ? h->n_overrides : 0;
        for (size_t i = 0; pass ? i < count : envp[i] != NULL; i++) {
            const char *kv = pass ? entry_item(e, h->overrides_off, i) : envp[i];
            if (!kv || !strchr(kv, '='))
                continue;
            size_t len = name_len(kv), j;
            for (j = 0; j < n; j++)
                if (name_len(names[j]) == len && strncmp(names[j], kv, len) == 0)
                    break;
            if (j == n) {
                if (n == cap) {
                    cap *= 2;
                    names = realloc(names, cap * sizeof *names);
                    values = realloc(values, cap * sizeof *values);
                }
                names[n++] = kv;
            }
            values[j] = kv + len + 1;
        }
    }
    /* Strings first, then the uint32 array of their offsets. */
    uint32_t *offs = malloc((n + 1) * sizeof *offs);
    for (size_t i = 0; i < n; i++) {
        offs[i] = block->n;
        buf_add(block, names[i], name_len(names[i]) + 1);
        block->p[block->n - 1] = '=';
        buf_str(block, values[i]);
    }
    struct ls_bootinfo head;
    memcpy(&head, block->p, sizeof head);
    head.envc = n;
    head.envp_off = put_offsets(block, offs, n);
    head.size = block->n;
    memcpy(block->p, &head, sizeof head);
    free(offs);
    free(names);
    free(values);
}

/* Appends the guest's argv to `block`: the cached block's first argv_keep
 * strings (entry_read checked them), then the program's own arguments. */
void guest_argv(const struct entry *e, char **args, int nargs, struct buf *block)
{
    struct ls_bootinfo head;
    uint32_t keep = e->head->argv_keep, n = keep + nargs;
    memcpy(&head, block->p, sizeof head);
    uint32_t *offs = malloc((n + 1) * sizeof *offs);
    memcpy(offs, block->p + head.argv_off, keep * sizeof *offs);
    for (int i = 0; i < nargs; i++) {
        offs[keep + i] = block->n;
        buf_str(block, args[i]);
    }
    head.argc = n;
    head.argv_off = put_offsets(block, offs, n);
    head.size = block->n;
    memcpy(block->p, &head, sizeof head);
    free(offs);
}
