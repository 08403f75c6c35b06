//! Nothing here: the crate exists for `benches/boxes.rs`.
