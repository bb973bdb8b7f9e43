//! Topic rules: names are unique per user ignoring case, a user has at most a configured number
//! of topics (`MAX_TOPICS_PER_USER`: every classification reads and scores all of them, and the
//! list must fit one answer), and a topic being deleted can no longer be chosen by
//! classification.

/// Topics one user may have unless `MAX_TOPICS_PER_USER` says otherwise.
pub const DEFAULT_MAX_TOPICS: u64 = 100;

/// The refusal of one topic too many: how many there are and what to do.
pub fn too_many_topics(max: u64) -> String {
    format!("you already have {max} topics, the most allowed: delete one before creating another")
}

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
    fn the_refusal_names_the_cap_and_the_way_out() {
        let detail = too_many_topics(100);
        assert!(detail.contains("100 topics") && detail.contains("delete one"), "{detail}");
    }

    #[test]
    fn names_collide_ignoring_case() {
        assert_eq!(name_key("Recipes"), name_key("RECIPES"));
        assert_eq!(name_key("Ärzte"), name_key("ÄRZTE"));
        assert_ne!(name_key("Tax"), name_key("Taxes"));
    }
}
