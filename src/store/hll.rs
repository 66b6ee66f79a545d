//! HyperLogLog in Redis's exact string format. (Placeholder; filled in with PFADD.)
