//! Topic rules: names are unique per user ignoring case, and a topic being deleted can no longer
//! be chosen by classification.

/// The key under which a topic's name is kept unique for its user: the name, lower-cased.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Where a topic stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicState {
    /// Listed and chosen by classification.
    Active,
    /// Its documents are being moved back to unclassified; classification cannot choose it.
    Deleting,
}

impl TopicState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deleting => "deleting",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_collide_ignoring_case() {
        assert_eq!(name_key("Recipes"), name_key("RECIPES"));
        assert_eq!(name_key("Ärzte"), name_key("ÄRZTE"));
        assert_ne!(name_key("Tax"), name_key("Taxes"));
    }
}
