//! Ids of zones, cameras and regions, as the site file, the registry and events use them.

/// Whether `id` is a usable zone, camera or region id: non-empty ASCII letters, digits, `-`, `_`
/// or `.`, at most 64 characters.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::is_valid_id;

    #[test]
    fn ids_are_short_plain_ascii() {
        assert!(is_valid_id("entrance-east_2.b"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("north zone"));
        assert!(!is_valid_id("zoné"));
        assert!(!is_valid_id(&"a".repeat(65)));
    }
}
