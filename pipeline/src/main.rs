//! The `passwatch` command line.
fn main() {}
