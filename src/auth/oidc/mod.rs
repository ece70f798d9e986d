//! Single sign-on through OpenID Connect: the provider's discovery document and signing keys, and
//! the checks an ID token must pass before pipelog believes whom it names.
//!
//! The protocol is the `openidconnect` crate's (signature, audience, `azp`, expiry, nonce); this
//! module adds what that crate leaves to the relying party: Entra ID's templated multi-tenant
//! issuer, the allowed tenants and email domains, when an email counts as vouched for, clock skew,
//! `nbf`, and a key cache that refetches once on an unknown key, with a floor on how often. It knows
//! nothing of serving HTTP, of sessions or of accounts.

mod discovery;
mod http;
mod keys;
mod sign_on;

pub use discovery::{
    DiscoveryError, IssuerRule, Provider, TENANT_PLACEHOLDER, discover, fetch_keys,
};
pub use http::{HttpClientError, OidcHttp};
pub use keys::KeyCache;
pub use sign_on::{
    CALLBACK_PATH, SIGN_IN_VALID_FOR, SignInError, SignOn, SsoSettings, StartedSignIn,
};

use std::time::Duration;

use jiff::Timestamp;
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdTokenVerifier, IssuerUrl,
    JwsSigningAlgorithm, Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

pub use crate::domain::ExternalIdentity;

/// The claims beyond the standard ones that pipelog reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantClaims {
    /// Entra ID: the tenant (directory) the account belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// Entra ID: the account's object id, the same in every application (`sub` is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// Not before, in seconds since the epoch (the crate does not read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

impl AdditionalClaims for TenantClaims {}

pub type IdToken = openidconnect::IdToken<
    TenantClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type IdTokenClaims = openidconnect::IdTokenClaims<TenantClaims, CoreGenderClaim>;

/// What a token must satisfy, from the configuration and the provider's discovery document.
#[derive(Debug, Clone)]
pub struct TokenChecks {
    pub client_id: String,
    pub issuer: IssuerRule,
    /// The asymmetric signing algorithms the provider announces (see [`asymmetric`]).
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
    /// Tenants (`tid`) allowed to sign in; empty means any, which a templated issuer refuses.
    pub allowed_tenants: Vec<String>,
    /// Email domains allowed to sign in; empty means any.
    pub allowed_domains: Vec<String>,
    /// Entra ID's rules: the subject is `oid`, and an email is vouched for only by its domain.
    pub microsoft: bool,
    /// How far the provider's clock may be from ours.
    pub clock_skew: Duration,
}

/// The default tolerance for the provider's clock.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The algorithms among `announced` that sign with a private key: never `none`, never a shared
/// secret (an HMAC key would be the client secret, which the provider is not the only one to hold).
pub fn asymmetric(announced: &[CoreJwsSigningAlgorithm]) -> Vec<CoreJwsSigningAlgorithm> {
    announced
        .iter()
        .filter(|alg| **alg != CoreJwsSigningAlgorithm::None && !alg.uses_shared_secret())
        .cloned()
        .collect()
}

/// Who a provider vouches for: the account key and what the token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignIn {
    pub identity: ExternalIdentity,
    /// Lower-cased, when the token has one.
    pub email: Option<String>,
    /// Whether the provider vouches that the email is the person's (see [`TokenChecks::microsoft`]).
    pub email_vouched: bool,
    pub name: Option<String>,
    pub tenant: Option<String>,
}

/// Why a token was refused. The messages name the check, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("the ID token was signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature is not valid: {0}")]
    Signature(String),
    #[error("the ID token is meant for another application: {0}")]
    Audience(String),
    #[error("the ID token comes from another issuer: {0}")]
    Issuer(String),
    #[error("the ID token has expired: {0}")]
    Expired(String),
    #[error("the ID token is not valid yet: {0}")]
    NotYetValid(String),
    #[error("the ID token does not belong to this sign-in (nonce): {0}")]
    Nonce(String),
    #[error("the ID token names no tenant")]
    TenantMissing,
    #[error("tenant {0} may not sign in here")]
    TenantNotAllowed(String),
    #[error("accounts of {0} may not sign in here")]
    DomainNotAllowed(String),
    #[error("the ID token is not usable: {0}")]
    Malformed(String),
}

fn chrono_time(at: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(at.as_second(), at.subsec_nanosecond().max(0) as u32)
        .unwrap_or_default()
}

/// How the issue-time check's message begins, to tell it from an expiry.
const ISSUED_IN_FUTURE: &str = "issued at";

fn rejected(error: ClaimsVerificationError) -> TokenRejected {
    use ClaimsVerificationError as C;
    use SignatureVerificationError as S;
    match error {
        // The crate reports the issue-time check as `Expired`; ours marks its own message.
        C::Expired(why) if why.starts_with(ISSUED_IN_FUTURE) => TokenRejected::NotYetValid(why),
        C::Expired(why) => TokenRejected::Expired(why),
        C::InvalidAudience(why) => TokenRejected::Audience(why),
        C::InvalidIssuer(why) => TokenRejected::Issuer(why),
        C::InvalidNonce(why) => TokenRejected::Nonce(why),
        C::SignatureVerification(S::NoMatchingKey) => TokenRejected::UnknownKey,
        C::SignatureVerification(why) => TokenRejected::Signature(why.to_string()),
        other => TokenRejected::Malformed(other.to_string()),
    }
}

/// Checks `token` against the provider's `keys` and `checks`, for the sign-in that sent `nonce`,
/// at `now`.
pub fn verify_id_token(
    token: &IdToken,
    keys: &CoreJsonWebKeySet,
    checks: &TokenChecks,
    nonce: &Nonce,
    now: Timestamp,
) -> Result<VerifiedSignIn, TokenRejected> {
    let skew = jiff::SignedDuration::try_from(checks.clock_skew).unwrap_or_default();
    let (issuer, exact) = match &checks.issuer {
        IssuerRule::Exact(issuer) => (issuer.as_str(), true),
        // Checked below against the token's own tenant.
        IssuerRule::Templated(template) => (template.as_str(), false),
    };
    let issuer = IssuerUrl::new(issuer.to_string())
        .map_err(|error| TokenRejected::Issuer(format!("the configured issuer: {error}")))?;
    let expiry_clock = chrono_time(now - skew);
    let latest_issue = chrono_time(now + skew);
    let verifier = IdTokenVerifier::new_public_client(
        ClientId::new(checks.client_id.clone()),
        issuer,
        keys.clone(),
    )
    .set_allowed_algs(checks.algorithms.iter().cloned())
    .require_issuer_match(exact)
    .set_time_fn(move || expiry_clock)
    .set_issue_time_verifier_fn(move |issued| {
        if issued > latest_issue {
            Err(format!("{ISSUED_IN_FUTURE} {issued}, later than now"))
        } else {
            Ok(())
        }
    });
    let claims = token.claims(&verifier, nonce).map_err(rejected)?;
    check_authorized_party(claims, &checks.client_id)?;
    let extra = claims.additional_claims();
    if let Some(not_before) = extra.nbf
        && not_before > (now + skew).as_second()
    {
        return Err(TokenRejected::NotYetValid(format!(
            "not before {not_before}"
        )));
    }
    let tenant = check_tenant(claims, checks)?;
    let subject = if checks.microsoft {
        extra.oid.clone().ok_or_else(|| {
            TokenRejected::Malformed("no object id (oid): ask for the profile scope".into())
        })?
    } else {
        claims.subject().as_str().to_string()
    };
    let (email, email_vouched) = email_of(claims, checks)?;
    Ok(VerifiedSignIn {
        identity: ExternalIdentity {
            issuer: claims.issuer().as_str().to_string(),
            subject,
        },
        email,
        email_vouched,
        name: claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_string()),
        tenant,
    })
}

/// OpenID Connect Core 3.1.3.7 (4, 5), which the crate leaves to the relying party: with several
/// audiences the token must name the party it was issued to, and that party must be us.
fn check_authorized_party(claims: &IdTokenClaims, client_id: &str) -> Result<(), TokenRejected> {
    match claims.authorized_party() {
        Some(party) if party.as_str() != client_id => Err(TokenRejected::Audience(format!(
            "issued to {}, not to this application",
            party.as_str()
        ))),
        None if claims.audiences().len() > 1 => Err(TokenRejected::Audience(
            "several audiences and no authorized party (azp)".into(),
        )),
        _ => Ok(()),
    }
}

fn check_tenant(
    claims: &IdTokenClaims,
    checks: &TokenChecks,
) -> Result<Option<String>, TokenRejected> {
    let tenant = claims.additional_claims().tid.clone();
    let allowed = |tenant: &str| {
        checks
            .allowed_tenants
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tenant))
    };
    match &checks.issuer {
        IssuerRule::Templated(template) => {
            let tenant = tenant.ok_or(TokenRejected::TenantMissing)?;
            let expected = template.replace(discovery::TENANT_PLACEHOLDER, &tenant);
            if claims.issuer().as_str() != expected {
                return Err(TokenRejected::Issuer(format!(
                    "expected {expected} for tenant {tenant}, found {}",
                    claims.issuer().as_str()
                )));
            }
            // An empty list is refused when the settings are read; here it allows no one.
            if !allowed(&tenant) {
                return Err(TokenRejected::TenantNotAllowed(tenant));
            }
            Ok(Some(tenant))
        }
        IssuerRule::Exact(_) if checks.allowed_tenants.is_empty() => Ok(tenant),
        IssuerRule::Exact(_) => match tenant {
            Some(tenant) if allowed(&tenant) => Ok(Some(tenant)),
            Some(tenant) => Err(TokenRejected::TenantNotAllowed(tenant)),
            None => Err(TokenRejected::TenantMissing),
        },
    }
}

/// The token's email and whether it is vouched for. Entra ID's `email` claim is whatever the
/// account's mail attribute says, which a tenant admin (or, for guests, anyone) can set: it counts
/// only in a domain the deployment allows, i.e. one it has verified in its tenant.
fn email_of(
    claims: &IdTokenClaims,
    checks: &TokenChecks,
) -> Result<(Option<String>, bool), TokenRejected> {
    let email = claims
        .email()
        .map(|email| email.as_str().to_string())
        .or_else(|| {
            checks
                .microsoft
                .then(|| claims.preferred_username())
                .flatten()
                .map(|name| name.as_str().to_string())
                .filter(|name| name.contains('@'))
        })
        .map(|email| crate::domain::normalize_email(&email));
    let domain = email
        .as_deref()
        .and_then(|email| email.rsplit_once('@'))
        .map(|(_, domain)| domain.to_string());
    let in_allowed_domain = domain.as_deref().is_some_and(|domain| {
        checks
            .allowed_domains
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(domain))
    });
    if !checks.allowed_domains.is_empty() && !in_allowed_domain {
        return Err(TokenRejected::DomainNotAllowed(
            domain.unwrap_or_else(|| "an account without an email".into()),
        ));
    }
    let vouched = if checks.microsoft {
        in_allowed_domain
    } else {
        email.is_some() && claims.email_verified() == Some(true)
    };
    Ok((email, vouched))
}

#[cfg(test)]
mod tests;
