//! Who a session belongs to. A session records the identity that created it (the authenticated
//! username — from the password check or a client certificate — or anonymous), on disk and in
//! the replicated client registry; a CONNECT by another identity for that client id is refused
//! (`session.bind_to_identity`, docs/security.md). Without this a user who learns another's
//! client id could resume that session and receive its queued messages and subscriptions.

use crate::catalog::cmd::Identity;

/// Whether `presented` may use a session recorded as belonging to `recorded`. A session with
/// no recorded identity (written before identities were recorded) is adopted by whoever
/// connects first.
pub fn may_use(recorded: Option<&Identity>, presented: &Identity) -> bool {
    recorded.is_none_or(|r| r == presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recorded_identity_may_use_a_session() {
        let alice = Identity::of(Some("alice"));
        assert!(may_use(Some(&alice), &Identity::User("alice".into())));
        assert!(!may_use(Some(&alice), &Identity::of(Some("bob"))));
        assert!(!may_use(Some(&alice), &Identity::Anonymous));
        assert!(!may_use(Some(&Identity::Anonymous), &alice));
        assert!(may_use(None, &alice), "a record without identity is adopted");
    }

    #[test]
    fn identities_round_trip_as_json() {
        for i in [Identity::Anonymous, Identity::of(Some("a:b#c"))] {
            let j = serde_json::to_string(&i).expect("json");
            assert_eq!(serde_json::from_str::<Identity>(&j).expect("parse"), i);
        }
    }
}
