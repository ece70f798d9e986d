//! The `[sso]` section: single sign-on through an OpenID provider (Microsoft Entra ID or any
//! standard one). Absent `issuer`, there is no single sign-on and password sign-in is the only way.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::oidc::{SsoSettings, TENANT_PLACEHOLDER};
use crate::sync::odoo::Secret;

use super::{env_secret, read_secret_file};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSection {
    /// The provider's issuer URL (env PIPELOG_SSO_ISSUER).
    pub issuer: Option<String>,
    /// The application (client) id registered at the provider (env PIPELOG_SSO_CLIENT_ID).
    pub client_id: Option<String>,
    /// Prefer `client_secret_file` or PIPELOG_SSO_CLIENT_SECRET(_FILE).
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back; default: the base URL + the callback path.
    pub redirect_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub allowed_domains: Option<Vec<String>>,
    pub allowed_tenants: Option<Vec<String>>,
    /// Whether a new account made by single sign-on waits for an admin (default true).
    pub require_approval: Option<bool>,
    /// The sign-in button's text.
    pub label: Option<String>,
    /// Whether people other than admins may still sign in with a password (default true).
    pub password_sign_in: Option<bool>,
    /// Entra ID's rules (subject `oid`, emails vouched by domain); default: by the issuer's host.
    pub microsoft: Option<bool>,
    /// The least time between two fetches of the provider's keys for unknown key ids.
    pub key_refetch_seconds: Option<u64>,
}

/// The scopes asked for by default: the identity, the email and the name.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];
const MICROSOFT_HOST: &str = "login.microsoftonline.com";

fn list(value: Option<Vec<String>>) -> Vec<String> {
    value
        .unwrap_or_default()
        .into_iter()
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

pub(super) fn sso_settings(
    sso: SsoSection,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<SsoSettings> {
    let issuer = env("PIPELOG_SSO_ISSUER").or(sso.issuer)?;
    let client_id = env("PIPELOG_SSO_CLIENT_ID")
        .or(sso.client_id)
        .unwrap_or_default();
    let secret = env_secret(env, "PIPELOG_SSO_CLIENT_SECRET", problems)
        .or(sso.client_secret)
        .or_else(|| {
            sso.client_secret_file
                .as_deref()
                .and_then(|path| read_secret_file(path, problems))
        });
    let url = reqwest::Url::parse(&issuer).ok();
    let https = url.as_ref().is_some_and(|url| url.scheme() == "https");
    let loopback = url.as_ref().is_some_and(|url| {
        url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    });
    if !(https || loopback) {
        problems.push(format!(
            "sso.issuer {issuer:?} must be an https:// URL (http:// only on loopback)"
        ));
    }
    if client_id.is_empty() {
        problems.push("sso.client_id (PIPELOG_SSO_CLIENT_ID) is required with sso.issuer".into());
    }
    if secret.as_ref().is_none_or(Secret::is_empty) {
        problems.push("an SSO client secret is required: set PIPELOG_SSO_CLIENT_SECRET, PIPELOG_SSO_CLIENT_SECRET_FILE or sso.client_secret_file".into());
    }
    if let Some(redirect) = &sso.redirect_url
        && reqwest::Url::parse(redirect)
            .ok()
            .is_none_or(|url| !matches!(url.scheme(), "http" | "https"))
    {
        problems.push(format!(
            "sso.redirect_url {redirect:?} must be an http:// or https:// URL"
        ));
    }
    let microsoft = sso
        .microsoft
        .unwrap_or_else(|| url.as_ref().and_then(|url| url.host_str()) == Some(MICROSOFT_HOST));
    let allowed_tenants = list(sso.allowed_tenants);
    let multi_tenant = ["/organizations/", "/common/", TENANT_PLACEHOLDER]
        .iter()
        .any(|segment| issuer.contains(segment));
    if microsoft && multi_tenant && allowed_tenants.is_empty() {
        problems.push("sso.allowed_tenants must list the tenant ids allowed to sign in with a multi-tenant issuer (organizations or common)".into());
    }
    let mut scopes = sso
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.map(String::from).to_vec());
    if !scopes.iter().any(|scope| scope == "openid") {
        scopes.insert(0, "openid".into());
    }
    let key_refetch_floor = Duration::from_secs(sso.key_refetch_seconds.unwrap_or(60).max(1));
    Some(SsoSettings {
        issuer,
        client_id,
        client_secret: secret.unwrap_or_default(),
        redirect_url: sso.redirect_url,
        scopes,
        allowed_domains: list(sso.allowed_domains),
        allowed_tenants,
        require_approval: sso.require_approval.unwrap_or(true),
        label: sso.label.unwrap_or_else(|| {
            if microsoft {
                "Sign in with Microsoft"
            } else {
                "Sign in with single sign-on"
            }
            .into()
        }),
        password_sign_in: sso.password_sign_in.unwrap_or(true),
        microsoft,
        key_refetch_floor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SsoSection {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn single_sign_on_needs_an_issuer_a_client_and_a_secret() {
        let mut problems = Vec::new();
        assert!(sso_settings(SsoSection::default(), &|_| None, &mut problems).is_none());
        let settings = sso_settings(
            parse("issuer = \"http://example.com\""),
            &|_| None,
            &mut problems,
        );
        assert!(settings.is_some());
        assert_eq!(problems.len(), 3, "{problems:?}");
        let mut problems = Vec::new();
        let env = |name: &str| (name == "PIPELOG_SSO_CLIENT_SECRET").then(|| "s3cret".to_string());
        let settings = sso_settings(
            parse("issuer = \"https://login.microsoftonline.com/0b6e-tenant/v2.0\"\nclient_id = \"app\"\nallowed_domains = [\" Example.COM \"]"),
            &env,
            &mut problems,
        )
        .expect("configured");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(settings.microsoft && settings.require_approval && settings.password_sign_in);
        assert_eq!(settings.label, "Sign in with Microsoft");
        assert_eq!(settings.allowed_domains, ["example.com"]);
        assert_eq!(settings.scopes, DEFAULT_SCOPES);
        assert_eq!(settings.client_secret.expose(), "s3cret");
        assert!(!format!("{settings:?}").contains("s3cret"), "never printed");
    }

    #[test]
    fn a_multi_tenant_microsoft_issuer_needs_its_allowed_tenants() {
        let mut problems = Vec::new();
        sso_settings(
            parse(
                "issuer = \"https://login.microsoftonline.com/organizations/v2.0\"\nclient_id = \"app\"\nclient_secret = \"x\"",
            ),
            &|_| None,
            &mut problems,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("allowed_tenants"));
    }
}
