//! End-to-end tests live in `tests/it/`; they run the workspace's binaries
//! (`CARGO_BIN_EXE_*` is not available across packages, so they locate them in the target dir).
