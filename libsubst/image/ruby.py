"""Where Ruby finds its gems, by RubyGems' own rule as Debian configures it
(rubygems-integration's ``rubygems/defaults/operating_system.rb``): besides
the interpreter's own trees (``/usr/lib/ruby``, its package's: packages.py),
``Gem.default_path`` names the directories where Debian's gem packages put
their specifications and code (``ruby-webrick``'s
``/usr/share/rubygems-integration/all``), ``gem install``'s
``/var/lib/gems/<api>`` and ``/usr/local/lib/ruby/gems/<api>``, where
``<api>`` is RbConfig's ``ruby_version`` (``3.1.0`` for libruby-3.1).  The
guest gets those that exist, read-only, and the extension modules in them.
Nothing is run on the host."""

from __future__ import annotations

import os
import re

from .walk import files_below

LIBRUBY = re.compile(r"libruby-(\d+)\.(\d+)\.so(\.[\d.]+)?")
ARCH = "x86_64-linux-gnu"
GEM_DIRS = ("/var/lib/gems/{api}", "/usr/local/lib/ruby/gems/{api}",
            "/usr/share/rubygems-integration/{api}", "/usr/share/rubygems-integration/all",
            "/usr/lib/{arch}/rubygems-integration/{api}")


def gem_dirs(libraries: list[str]) -> list[str] | None:
    """The gem directories that exist for the Ruby whose libruby is among
    ``libraries``; None when there is none (not a Ruby)."""
    for lib in libraries:
        m = LIBRUBY.fullmatch(os.path.basename(lib))
        if m:
            api = f"{m.group(1)}.{m.group(2)}.0"
            return [d for d in (t.format(api=api, arch=ARCH) for t in GEM_DIRS) if os.path.isdir(d)]
    return None


def extension_modules(dirs: list[str]) -> list[str]:
    return [so for d in dirs for so in files_below(d)]
