//! The write side for people: registering accounts, approval and roles, manager overrides,
//! reassigning an opportunity (written back to Odoo first). Each command on behalf of a signed-in
//! person checks who may do it, then appends its event with the caller's expected version and
//! command id; registration is for callers that have already decided (sign-up, setup, CLI, demo).
//! No HTTP here.

use crate::auth::Viewer;
use crate::domain::{
    Event, ExpectedVersion, ExternalIdentity, Metadata, NewEvent, OdooId, Role, normalize_email,
};
use crate::store::{Appended, CommandBatch, Store, StoreError};
use crate::sync::odoo::{Call, OdooClient, OdooError};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the record changed meanwhile: expected version {expected}, current version is {current}"
    )]
    Conflict { expected: u64, current: u64 },
    #[error("this idempotency key was used for a different request")]
    KeyReused,
    #[error("Odoo refused the change: {0}")]
    Odoo(#[from] OdooError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict {
                actual, expected, ..
            } => match expected.0 {
                ExpectedVersion::Exactly(expected) => CommandError::Conflict {
                    expected,
                    current: actual,
                },
                _ => CommandError::Conflict {
                    expected: 0,
                    current: actual,
                },
            },
            StoreError::CommandReused { .. } => CommandError::KeyReused,
            other => CommandError::Store(other),
        }
    }
}

/// How a command was asked: who, which version it saw, and its idempotency key.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub expected_version: Option<u64>,
    pub command_id: Option<String>,
    /// What the command id is bound to: a retry must be the same request.
    pub fingerprint: Option<String>,
}

fn metadata(actor: &Viewer) -> Metadata {
    Metadata {
        actor: Some(actor.login.email.clone()),
        source: Some("api".into()),
        ..Metadata::default()
    }
}

fn append(
    store: &Store,
    actor: &Viewer,
    request: &Request,
    event: Event,
) -> Result<Appended, CommandError> {
    let expected = request
        .expected_version
        .map(ExpectedVersion::Exactly)
        .unwrap_or_default();
    let new = NewEvent::new(event)
        .expecting(expected)
        .with_metadata(metadata(actor));
    let mut batch = CommandBatch::new(vec![new]);
    batch.command_id = request.command_id.clone();
    batch.fingerprint = request.fingerprint.clone();
    Ok(store.append(batch)?)
}

fn require_admin(actor: &Viewer) -> Result<(), CommandError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(CommandError::NotAllowed("only admins can do this".into()))
    }
}

/// A new sign-in account, as `register_account` records it.
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    /// Sign-ups wait for an admin; accounts made by an admin, the CLI or the demo do not.
    pub approved: bool,
    /// `None` for an account that signs in only through single sign-on.
    pub password_hash: Option<&'a str>,
    /// The OpenID provider's identity the account signs in as, linked in the same batch.
    pub identity: Option<&'a ExternalIdentity>,
    /// Who registered it (the person, `cli`, `demo`) and through what (`api`, `setup`, `cli`, ...).
    pub actor: &'a str,
    pub source: &'a str,
}

/// Stores the account's password hash, then records `UserRegistered`. The email is taken as given
/// (callers normalize it).
pub fn register_account(store: &Store, account: NewAccount<'_>) -> Result<Appended, StoreError> {
    if let Some(hash) = account.password_hash {
        store.set_credential(account.email, hash)?;
    }
    let metadata = Metadata {
        actor: Some(account.actor.to_string()),
        source: Some(account.source.to_string()),
        ..Metadata::default()
    };
    let mut events = vec![Event::UserRegistered {
        email: account.email.to_string(),
        name: account.name.to_string(),
        role: account.role,
        approved: account.approved,
    }];
    events.extend(
        account
            .identity
            .map(|identity| Event::ExternalIdentityLinked {
                email: account.email.to_string(),
                identity: identity.clone(),
            }),
    );
    store.append(CommandBatch::new(
        events
            .into_iter()
            .map(|event| NewEvent::new(event).with_metadata(metadata.clone()))
            .collect(),
    ))
}

/// Why a person the provider vouched for still gets no account here.
#[derive(Debug, thiserror::Error)]
pub enum ExternalSignInError {
    #[error(
        "the identity provider does not vouch for this account's email, so it cannot be matched to an account here; ask an admin"
    )]
    EmailNotVouched,
    #[error("the account {0} already signs in through another identity; ask an admin")]
    LinkedElsewhere(String),
    #[error("the new account {0} was not recorded")]
    NotRecorded(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The account a verified sign-in through an OpenID provider belongs to: the one linked to its
/// identity; else, when the provider vouches for the email, the account with that email (linked
/// now, unless it is linked to another identity) or a new one (waiting for an admin when
/// `require_approval`). An email the provider does not vouch for links nothing: anyone can put
/// any address in an unverified profile.
pub fn account_for_sign_in(
    store: &Store,
    sign_in: &crate::auth::oidc::VerifiedSignIn,
    require_approval: bool,
) -> Result<crate::projections::LoginView, ExternalSignInError> {
    let logins = store
        .read()?
        .views::<crate::projections::LoginView>(crate::projections::ViewTable::Logins)?;
    if let Some(login) = logins
        .iter()
        .find(|login| login.external_identity.as_ref() == Some(&sign_in.identity))
    {
        return Ok(login.clone());
    }
    let email = sign_in
        .email
        .as_deref()
        .filter(|_| sign_in.email_vouched)
        .ok_or(ExternalSignInError::EmailNotVouched)?;
    let metadata = Metadata {
        actor: Some(email.to_string()),
        source: Some("sso".into()),
        ..Metadata::default()
    };
    if let Some(login) = logins.into_iter().find(|login| login.email == email) {
        if login.external_identity.is_some() {
            return Err(ExternalSignInError::LinkedElsewhere(login.email));
        }
        store.append(CommandBatch::new(vec![
            NewEvent::new(Event::ExternalIdentityLinked {
                email: login.email.clone(),
                identity: sign_in.identity.clone(),
            })
            .with_metadata(metadata),
        ]))?;
        return Ok(login);
    }
    let name = sign_in
        .name
        .clone()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| email.to_string());
    register_account(
        store,
        NewAccount {
            email,
            name: &name,
            role: Role::Member,
            approved: !require_approval,
            password_hash: None,
            identity: Some(&sign_in.identity),
            actor: email,
            source: "sso",
        },
    )?;
    store
        .read()?
        .login(email)?
        .ok_or_else(|| ExternalSignInError::NotRecorded(email.to_string()))
}

/// Sign-ups waiting for approval at most; past it, sign-up answers "try later".
pub const MAX_PENDING_SIGNUPS: usize = 200;

/// How long a sign-up waits for approval before it expires.
pub const SIGNUP_EXPIRES_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_hours(14 * 24);

/// Expires the sign-ups that waited longer than [`SIGNUP_EXPIRES_AFTER`] (their password hashes go
/// too) and returns how many are still waiting.
pub fn expire_old_signups(store: &Store, now: jiff::Timestamp) -> Result<usize, StoreError> {
    let logins = store
        .read()?
        .views::<crate::projections::LoginView>(crate::projections::ViewTable::Logins)?;
    let pending: Vec<_> = logins
        .into_iter()
        .filter(|login| login.status == crate::projections::LoginStatus::Pending)
        .collect();
    let (expired, waiting): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .partition(|login| now.duration_since(login.registered_at) > SIGNUP_EXPIRES_AFTER);
    if !expired.is_empty() {
        let metadata = Metadata {
            actor: Some("pipelog".into()),
            source: Some("signup-expiry".into()),
            ..Metadata::default()
        };
        let events = expired
            .iter()
            .map(|login| {
                NewEvent::new(Event::SignupExpired {
                    email: login.email.clone(),
                })
                .with_metadata(metadata.clone())
            })
            .collect();
        store.append(CommandBatch::new(events))?;
        for login in &expired {
            store.delete_credential(&login.email)?;
        }
    }
    Ok(waiting.len())
}

pub enum AccountChange {
    Approve,
    Disable,
    Role(Role),
}

pub fn change_account(
    store: &Store,
    actor: &Viewer,
    email: &str,
    change: AccountChange,
    request: &Request,
) -> Result<Appended, CommandError> {
    require_admin(actor)?;
    let email = normalize_email(email);
    if store.read()?.login(&email)?.is_none() {
        return Err(CommandError::NotFound);
    }
    if email == actor.login.email
        && !matches!(
            change,
            AccountChange::Approve | AccountChange::Role(Role::Admin)
        )
    {
        return Err(CommandError::Invalid(
            "you cannot disable or demote your own account".into(),
        ));
    }
    let event = match change {
        AccountChange::Approve => Event::UserApproved { email },
        AccountChange::Disable => Event::UserDisabled { email },
        AccountChange::Role(role) => Event::UserRoleChanged { email, role },
    };
    append(store, actor, request, event)
}

/// An admin's override of a user's Odoo manager; `None` returns to Odoo's.
pub fn assign_manager(
    store: &Store,
    actor: &Viewer,
    user: OdooId,
    manager: Option<OdooId>,
    request: &Request,
) -> Result<Appended, CommandError> {
    require_admin(actor)?;
    let snapshot = store.read()?;
    if snapshot.profile(user)?.is_none() {
        return Err(CommandError::NotFound);
    }
    if let Some(manager) = manager {
        if manager == user {
            return Err(CommandError::Invalid(
                "a user cannot manage themselves".into(),
            ));
        }
        if snapshot.profile(manager)?.is_none() {
            return Err(CommandError::Invalid(format!("there is no user {manager}")));
        }
    }
    append(
        store,
        actor,
        request,
        Event::ManagerAssigned {
            user_id: user,
            manager_id: manager,
        },
    )
}

/// Reassigns an opportunity: allowed for admins, and for managers when both the opportunity and the
/// new salesperson are within their reach. Odoo is written first; if it refuses, nothing is recorded.
pub async fn assign_opportunity(
    store: &Store,
    odoo: Option<&OdooClient>,
    actor: &Viewer,
    opportunity: OdooId,
    salesperson: OdooId,
    request: &Request,
) -> Result<Appended, CommandError> {
    let snapshot = store.read()?;
    let view = snapshot
        .opportunity(opportunity)?
        .filter(|o| actor.sees(o))
        .ok_or(CommandError::NotFound)?;
    let manages = actor.user_id().is_some_and(|me| {
        snapshot
            .profile(me)
            .ok()
            .flatten()
            .is_some_and(|p| p.is_manager)
    });
    if !actor.is_admin() && !manages {
        return Err(CommandError::NotAllowed(
            "only managers and admins can reassign opportunities".into(),
        ));
    }
    if snapshot.profile(salesperson)?.is_none() || !actor.sees_user(salesperson) {
        return Err(CommandError::Invalid(format!(
            "user {salesperson} is not a salesperson you can assign to"
        )));
    }
    // Permissions and reach first: a key proves nothing about who may do what. A retry of a
    // request that was done answers as it did, before the version it saw is compared.
    if let Some(key) = &request.command_id
        && let Some(first) = snapshot.command(key)?
    {
        return Ok(first.replay(key, &request.fingerprint)?);
    }
    let current = snapshot.aggregate_version(&format!("opportunity/{opportunity}"))?;
    if let Some(expected) = request.expected_version
        && expected != current
    {
        return Err(CommandError::Conflict { expected, current });
    }
    drop(snapshot);
    let odoo = odoo.ok_or_else(|| {
        CommandError::Invalid("no Odoo is configured to write the change to".into())
    })?;
    let call =
        Call::on(vec![opportunity]).param("vals", serde_json::json!({"user_id": salesperson}));
    odoo.call("crm.lead", "write", call).await?;
    let from = view.salesperson.map(|s| s.id);
    append(
        store,
        actor,
        request,
        Event::OpportunityAssigned {
            id: opportunity,
            from,
            to: Some(salesperson),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_up(store: &Store, email: &str) {
        register_account(
            store,
            NewAccount {
                email,
                name: "Someone",
                role: Role::Member,
                approved: false,
                password_hash: Some("hash"),
                identity: None,
                actor: email,
                source: "api",
            },
        )
        .expect("registered");
    }

    #[test]
    fn sign_ups_that_waited_too_long_expire_and_may_sign_up_again() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("expiry.redb")).expect("store");
        sign_up(&store, "old@example.com");
        sign_up(&store, "new@example.com");
        register_account(
            &store,
            NewAccount {
                email: "kept@example.com",
                name: "Kept",
                role: Role::Member,
                approved: true,
                password_hash: Some("hash"),
                identity: None,
                actor: "cli",
                source: "cli",
            },
        )
        .expect("registered");
        let now = jiff::Timestamp::now();
        assert_eq!(expire_old_signups(&store, now).expect("expiry"), 2);
        let later = now
            .checked_add(SIGNUP_EXPIRES_AFTER)
            .and_then(|t| t.checked_add(jiff::SignedDuration::from_hours(1)))
            .expect("time");
        assert_eq!(expire_old_signups(&store, later).expect("expiry"), 0);
        let snapshot = store.read().expect("read");
        assert!(snapshot.login("old@example.com").expect("login").is_none());
        assert!(
            snapshot
                .credential("old@example.com")
                .expect("hash")
                .is_none()
        );
        assert!(
            snapshot.login("kept@example.com").expect("login").is_some(),
            "approved accounts never expire"
        );
        drop(snapshot);
        sign_up(&store, "old@example.com");
        let again = store
            .read()
            .expect("read")
            .login("old@example.com")
            .expect("login");
        assert_eq!(
            again.map(|login| login.status),
            Some(crate::projections::LoginStatus::Pending)
        );
        assert!(store.verify(&mut |_| {}).expect("verify").is_clean());
    }
}
