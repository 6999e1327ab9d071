//! Paths inside the checkout under test.

/// `rel` (starting with `/`, or empty for the root) inside the checkout whose tests
/// are running. Cargo sets CARGO_MANIFEST_DIR in the environment of every test it
/// runs; the value compiled into the binary is only the fallback, because cargo does
/// not rebuild a workspace whose only change is its path: a test binary from a shared
/// build cache, made in another checkout, would read that checkout's files (or fail
/// on a directory that is gone).
pub fn checkout(rel: &str) -> String {
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    format!("{root}{rel}")
}
