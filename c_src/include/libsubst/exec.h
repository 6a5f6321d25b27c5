/*
 * The limits of execve's "#!" rule (Linux's fs/binfmt_script.c and
 * fs/exec.c), written once: the guest kernel applies them at every exec,
 * the first boot's included (proc/exec_check.c); the orchestrator reads
 * them through cffi (libsubst/_build_abi.py) only to follow a script's
 * interpreters to the files the guest's root must hold
 * (libsubst/ldso/program.py).
 */
#ifndef LIBSUBST_EXEC_H
#define LIBSUBST_EXEC_H

/* BINPRM_BUF_SIZE: the bytes of a file's head Linux reads; a "#!" line is
 * cut there. */
#define LS_BINPRM_BUF_SIZE 256
/* exec_binprm: past this many "#!" levels an exec fails with ELOOP (the
 * file at depth LS_EXEC_MAX_DEPTH + 1 is never opened). */
#define LS_EXEC_MAX_DEPTH 5

#endif
