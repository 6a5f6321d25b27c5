"""libsubst: run prebuilt Linux programs as unikernels.

The library API (importing this package imports nothing else; each name
loads its module on first use):

- ``run(target, args=None, *, input=None, capture_output=False, timeout=None,
  check=False, stdin=None, stdout=None, ...) -> Completed``: run a program or
  a packed image and wait for it, as subprocess.run (libsubst.api.run);
- ``Popen(target, args=None, ...)``: start one and return a handle, as
  subprocess.Popen (libsubst.api.Popen);
- ``Image``: packed images, ``Image.from_program(...)``, ``image.write(path)``,
  ``Image.open(path)``, ``image.manifest`` (libsubst.image.pack, lsi);
- ``prepare(...) -> GuestPlan``: the guest a run would boot (libsubst.plan);
- ``Completed``, ``Mount``, ``GuestPlan`` (also ``BootSpec``); ``LibsubstError`` and its subclasses
  (``ImageError``, ``VolumeError``, ``ProgramNotFound``, ``GuestError``,
  ``GuestTimeout``, ...).
"""

_EXPORTS = {
    "run": "api", "prepare": "api", "Popen": "api",
    "Image": "image.pack",
    "Completed": "monitor.guest",
    "Mount": "volumes", "GuestPlan": "plan", "BootSpec": "monitor.bootinfo",
    "LibsubstError": "errors", "ImageError": "errors", "VolumeError": "errors",
    "ProgramNotFound": "errors", "GuestError": "errors", "GuestTimeout": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'libsubst' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
