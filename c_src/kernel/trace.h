/*
 * The tracer's line buffer and argument rendering, shared by trace.c (which
 * writes the lines) and trace_args.c (which renders each argument).
 */
#ifndef LS_TRACE_H
#define LS_TRACE_H

struct line {
    char buf[8192];              /* two 255-byte paths, escaped twice for JSON, fit */
    int len;
};

/* printf onto the line; what does not fit is cut. */
void trace_add(struct line *l, const char *fmt, ...);
/* text (ASCII) as a JSON string. */
void trace_add_json_string(struct line *l, const char *text, int n);
/* Argument `v` of kind `kind` (enum ls_argk) as strace shows it; `next` is
 * the following argument (a buffer's length), `ret` the call's result,
 * `done` zero for a call that has not returned.  Guest memory is read
 * without faulting: what the guest cannot read prints as its address. */
void trace_add_arg(struct line *l, int kind, long v, long next, long ret, int done);
/* At boot, with lines on: what trace_add_arg needs to read guest memory. */
void trace_args_init(void);

#endif
