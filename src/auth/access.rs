//! Who may see what. Every read of an opportunity, a user or a figure goes through [`Viewer`]:
//! admins reach everything; everyone else reaches the owners in their access row (themselves and
//! their whole reporting subtree); an account with no Odoo user reaches nothing.

use std::collections::BTreeSet;

use crate::domain::{OdooId, Role};
use crate::projections::{LoginStatus, LoginView, OpportunityView};
use crate::store::{Snapshot, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Everything,
    Owners(BTreeSet<OdooId>),
}

/// A signed-in, approved account and its reach.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub login: LoginView,
    pub reach: Reach,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.reach == Reach::Everything
    }

    /// The Odoo user this account is, if any.
    pub fn user_id(&self) -> Option<OdooId> {
        self.login.user_id
    }

    pub fn sees_user(&self, user: OdooId) -> bool {
        match &self.reach {
            Reach::Everything => true,
            Reach::Owners(owners) => owners.contains(&user),
        }
    }

    pub fn sees(&self, opportunity: &OpportunityView) -> bool {
        self.sees_owner(opportunity.salesperson.as_ref().map(|s| s.id))
    }

    /// Whether an opportunity owned by `owner` (`None`: unassigned) is within reach.
    pub fn sees_owner(&self, owner: Option<OdooId>) -> bool {
        match &self.reach {
            Reach::Everything => true,
            Reach::Owners(owners) => owner.is_some_and(|owner| owners.contains(&owner)),
        }
    }
}

/// The viewer for a signed-in email, or `None` when the account is missing, pending or disabled.
pub fn resolve_viewer(snapshot: &Snapshot, email: &str) -> Result<Option<Viewer>, StoreError> {
    let Some(login) = snapshot.login(email)? else {
        return Ok(None);
    };
    if login.status != LoginStatus::Approved {
        return Ok(None);
    }
    let reach = if login.role == Role::Admin {
        Reach::Everything
    } else {
        match login.user_id {
            Some(user) => Reach::Owners(
                snapshot
                    .access(user)?
                    .map(|a| a.visible_users.into_iter().collect())
                    .unwrap_or_default(),
            ),
            None => Reach::Owners(BTreeSet::new()),
        }
    };
    Ok(Some(Viewer { login, reach }))
}
