"""The substitute libc: an object's ``syscall`` sites rewritten into fastcalls.

Any x86-64 ELF executable or shared object (glibc's libc.so.6 first; its
ld.so, musl's libc.so, a static program) can be substituted: each site that
is provably safe to move becomes a ``jmp`` to a stub in a segment added to the
object, and the stub enters the guest kernel through ``call *%gs:0``
(``stub`` documents the contract).  The rest stay on the trap path.

- ``sites.analyse(path) -> Analysis``: the sites, which are rewritable, and why not.
- ``rewrite.make(src, out) -> Report``: write the verified substitute.
- ``cache.substitute(path) -> str``: the cached substitute's path (the start-up
  path: imports nothing heavy on a hit); ``cache.report(path) -> dict``.
- ``cli.uklibc``: the ``libsubst uklibc inspect|make`` commands.

Modules: ``ehframe`` (unwind tables), ``stretch`` (where the code is and
how the sweep cuts it), ``gotext`` (a Go program's function table),
``decode`` (capstone sweep, branch targets) with ``bulk`` (its decoding in
bulk), ``scan`` (what could land near a site, without a decode), ``sysnr``
(syscall numbers), ``sites``, ``stub``, ``rewrite``, ``cache``, ``cli``; ELF files are read with ``libsubst.elf``.  Importing this
package imports nothing else.
"""
