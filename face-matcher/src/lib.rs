//! Face matching (being written).
