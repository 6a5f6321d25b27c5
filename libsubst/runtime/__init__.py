"""libsubst-runtime: an OCI runtime whose containers are libsubst guests (docs/oci-runtime.md)."""
