//! Permissions that were taken away stop delivering: the subscriptions of this node's sessions
//! (live and persisted) are checked against the ACL again when the rules change and when a
//! session is resumed, and what the rules now deny is removed (logged, counted as
//! `starling_refused_total{reason="subscription_revoked"}`). Every node checks its own
//! sessions; the durable copy in the catalog follows through the usual unsubscribe.

use std::sync::Arc;

use super::Broker;
use super::session::Session;
use crate::auth::acl::Action;
use crate::catalog::cmd::Identity;
use crate::protocol::topic;

impl Broker {
    /// Check every session on this node (after the ACL was reloaded). Returns how many
    /// subscriptions were removed.
    pub async fn revoke_denied_subscriptions(self: &Arc<Self>) -> usize {
        let sessions: Vec<Arc<Session>> = self.sessions.lock().values().cloned().collect();
        let mut removed = 0;
        for s in sessions {
            removed += self.recheck_subscriptions(&s).await;
        }
        if removed > 0 {
            tracing::info!(removed, "subscriptions the new ACL denies were removed");
        }
        removed
    }

    /// Check one session's subscriptions against the ACL for the identity it belongs to.
    /// A session whose identity was never recorded is left as it is.
    pub async fn recheck_subscriptions(self: &Arc<Self>, session: &Arc<Session>) -> usize {
        let (identity, filters) = {
            let st = session.state.lock();
            (st.identity.clone(), st.subscriptions.keys().cloned().collect::<Vec<_>>())
        };
        let username = match &identity {
            None => return 0,
            Some(Identity::Anonymous) => None,
            Some(Identity::User(u)) => Some(u.as_str()),
        };
        let client = &*session.client_id;
        let mut acl = self.auth.conn_acl(username, client);
        let mut removed = 0;
        for full in filters {
            let Ok(p) = topic::parse_filter(&full, self.settings.topic_limits) else { continue };
            if acl.allows(&self.auth, username, client, Action::Subscribe, p.filter) {
                continue;
            }
            match self.unsubscribe(session, &full).await {
                Ok(true) => {
                    removed += 1;
                    self.auth.refused("subscription_revoked", client, || {
                        format!("client {client:?}: subscription {full:?} removed, the ACL no longer allows it")
                    });
                }
                Ok(false) => {}
                Err(e) => tracing::error!(client, filter = %full, "cannot remove a revoked subscription: {e}"),
            }
        }
        removed
    }
}
