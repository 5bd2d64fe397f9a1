//! OCI seccomp profiles compiled to BPF through libseccomp.
