//! cgroup drivers for berth: v1, v2 and hybrid hosts.
