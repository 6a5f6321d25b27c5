"""``libsubst inspect IMAGE``: what a packed image holds, as text or JSON."""

from __future__ import annotations

import json

from ..errors import ImageError
from .lsi import Image


def describe(image: Image) -> dict:
    """Everything inspect shows, as plain data: the header, the manifest, the
    verification result, and the size against the files it holds."""
    try:
        image.verify()
        verified, problem = True, None
    except ImageError as e:
        verified, problem = False, str(e)
    content = image.content_size()
    return {"path": image.path, "size": image.size, "content_size": content,
            "size_ratio": round(image.size / content, 4) if content else None,
            "verified": verified, "problem": problem,
            "header": image.header, "manifest": image.manifest}


def human_size(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def kernel_line(m: dict) -> str:
    """The calls the image's kernel serves, its size and its allow-list,
    against the full kernel's for a specialised one."""
    k = m["kernel"]
    sp = k.get("specialized")
    if not sp:
        return "every call libsubst serves (the full kernel)"
    full = sp["full"]
    return (f"{len(sp['syscalls'])} of the {full['syscalls']} libsubst serves (specialised "
            f"kernel: text {sp['text']} of {full['text']} bytes, {sp['functions']} of "
            f"{full['functions']} functions; host allow-list {k['seccomp']['allowed']} of "
            f"{full['allowed']} calls); the others answer ENOSYS and are reported")


def render(path: str, as_json: bool = False, name: str | None = None) -> str:
    """What inspect prints of the image file at path, called name (path)."""
    with Image.open(path) as image:
        d = describe(image)
    if as_json:
        return json.dumps(d, indent=2, sort_keys=True) + "\n"
    m = d["manifest"]
    files = m["files"]
    regular = [f for f in files if f["kind"] == "file"]
    distinct = {f["sha256"] for f in regular}
    lines = [
        f"{name or path}: libsubst image, format {d['header']['format']}, {human_size(d['size'])} "
        f"({d['size']} bytes, {d['size_ratio']:.3f}x the {human_size(d['content_size'])} it holds)"
        if d["size_ratio"] else f"{name or path}: libsubst image, format {d['header']['format']}",
        f"verified:  {'yes, every sha256 matches' if d['verified'] else 'NO: ' + d['problem']}",
        f"program:   {m['exe']}",
        f"argv:      {' '.join(m['argv'])}  (run's ARGS replace those after the first "
        f"{m['keep_argc']})",
        f"env:       {' '.join(m['env'])}",
        f"workdir:   {m['cwd']}",
        f"network:   {m['net']}",
        f"init:      {'yes: the program is the child of an init, pid 1' if m.get('init') else 'no'}",
        "volumes:   " + (", ".join(f"{v['path']} ({'ro' if v['readonly'] else 'rw'})"
                                   for v in m["volumes"]) or "none"),
        f"kernel:    build-id {m['kernel']['build_id']}, {m['kernel']['size']} bytes, "
        f"sha256 {m['kernel']['sha256'][:16]}...",
        f"syscalls:  {kernel_line(m)}",
        "sandbox:   " + (f"seccomp allow-list of {m['kernel']['seccomp']['allowed']} host calls "
                         f"({m['kernel']['seccomp']['pinned']} pinned to their arguments), "
                         "Landlock, no_new_privs" if "seccomp" in m["kernel"] else "unknown")
        + ("; namespaces: " + ", ".join(m["kernel"]["namespaces"] + (["net"] if m["net"] == "none"
                                                                        else []))
           if "namespaces" in m["kernel"] else ""),
        f"libsubst:  {m['libsubst']['version']}",
        f"files:     {len(regular)} files ({len(distinct)} distinct contents), "
        f"{sum(1 for f in files if f['kind'] == 'dir')} directories, "
        f"{sum(1 for f in files if f['kind'] == 'symlink')} symlinks",
    ]
    sp = m["kernel"].get("specialized")
    if sp:
        lines.append("  served:  " + " ".join(sp["syscalls"]))
        lines.append("  allowed: " + " ".join(m["kernel"]["seccomp"]["calls"]))
        if sp["unknown_sites"]:
            lines.append(f"  unknown: {sp['unknown_sites']} functions reach syscall sites whose "
                         "number the analysis cannot tell (libsubst analyze --json lists them); "
                         "a call made there that is not above answers ENOSYS")
    sub = m["substitution"]
    lines.append("substitution: " + ("on" if sub["enabled"] else "off (--no-subst)"))
    for obj, s in sub["objects"].items():
        if s.get("error"):
            what = f"not rewritten: {s['error']}"
        elif s.get("sites"):
            what = (f"{s['sites']} syscall sites, {s['rewritten']} rewritten to fastcalls, "
                    f"{s['left']} left to the trap path")
            if s.get("by_reason"):
                what += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(s["by_reason"].items())) + ")"
        else:
            what = "no syscall sites"
        lines.append(f"  {obj}: {what}")
    lines.append("")
    lines.append(f"{'MODE':>6} {'SIZE':>10}  PATH")
    for f in files:
        if f["kind"] == "dir":
            lines.append(f"{f['mode']:>6o} {'-':>10}  {f['path'].rstrip('/')}/")
        elif f["kind"] == "symlink":
            lines.append(f"{'link':>6} {'-':>10}  {f['path']} -> {f['target']}")
        else:
            lines.append(f"{f['mode']:>6o} {f['size']:>10}  {f['path']}")
    return "\n".join(lines) + "\n"
