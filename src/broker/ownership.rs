//! A session belongs to the identity that created it (`session.bind_to_identity`): the check
//! [`Broker::connect`] makes before it takes over, replaces or fetches a session.

use std::sync::Arc;

use super::session::Session;
use super::{Broker, BrokerError};
use crate::auth::ownership::may_use;
use crate::catalog::cmd::Identity;

impl Broker {
    /// Whether `identity` may use the session of `client` (there is none, or it is its own).
    pub fn may_use_session(&self, client: &str, identity: &Identity) -> bool {
        let local = self.sessions.lock().get(client).cloned();
        self.check_owner(client, local.as_ref(), identity).is_ok()
    }

    /// Refuse `identity` when the session of `client` — `local` on this node, else the one the
    /// replicated client registry records on any node — belongs to another identity. Nothing
    /// is changed: the owner's connection and session stay as they are.
    pub(super) fn check_owner(
        &self,
        client: &str,
        local: Option<&Arc<Session>>,
        identity: &Identity,
    ) -> Result<(), BrokerError> {
        if !self.settings.bind_to_identity {
            return Ok(());
        }
        let recorded = local.and_then(|s| s.state.lock().identity.clone());
        let recorded = recorded.or_else(|| self.catalog.client_identity(client));
        match recorded {
            Some(owner) if !may_use(Some(&owner), identity) => Err(BrokerError::NotOwner(owner)),
            _ => Ok(()),
        }
    }
}
