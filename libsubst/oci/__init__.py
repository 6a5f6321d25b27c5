"""Distribution: packed images as OCI artifacts in registries (push, pull,
``run REF``), a local store keyed by digest, and registry credentials."""
