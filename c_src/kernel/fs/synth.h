/*
 * The synthetic trees' node table, shared by synth.c (lookup, links, stat,
 * open) and synth_dir.c (listing).  A synthetic id is an index into
 * synth_gtab (absolute paths), SID_P + an index into synth_ptab (paths below
 * /proc/<pid>), or SID_FDLINK / SID_FDHOST with the fd as argument.
 */
#ifndef LS_FS_SYNTH_H
#define LS_FS_SYNTH_H

#include "fs.h"

enum { SL_SELF = 1, SL_THREAD, SL_FIXED, SL_EXE, SL_CWD };   /* link kinds (ST_LINK's gen) */

struct synth_ent {
    const char *path;
    unsigned char type, gen;    /* ST_*; SG_* for files, SL_* for links */
    const char *aux;            /* SL_FIXED: the target; SG_TEXT: the contents */
};

/* Generates the contents of synthetic file e (of thread tid, 0: the
 * process) into a sealed memfd. */
long synth_generate(const struct synth_ent *e, long tid, int cloexec);

#define SID_P 0x100
extern const struct synth_ent synth_gtab[];
extern const int synth_ng;
extern const struct synth_ent synth_ptab[];
extern const int synth_np;

int synth_have_tty(void);
/* Parses a decimal number that runs to the end of *s or to a '/'; -1 if none. */
long synth_parse_num(const char **s);

#endif
