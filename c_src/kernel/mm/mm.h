/* Internal interface of c_src/kernel/mm/ (the rest is kernel.h's). */
#ifndef LS_MM_H
#define LS_MM_H

#include "kernel.h"

/* In a forked child: the memory map's lock is free again. */
void mm_after_fork(void);
long sys_brk(unsigned long addr);
long sys_mmap(unsigned long addr, unsigned long len, long prot, long flags, long fd, long off);
long sys_munmap(unsigned long addr, unsigned long len);
long sys_mprotect(unsigned long addr, unsigned long len, long prot);
long sys_mremap(unsigned long old, unsigned long old_len, unsigned long new_len, long flags,
                unsigned long new_addr);
long sys_remap_file_pages(unsigned long start, unsigned long size, long prot, unsigned long pgoff,
                          long flags);
long sys_shmat(long id, unsigned long addr, long flags);

#endif
