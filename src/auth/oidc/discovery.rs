//! The provider's discovery document, read once per start (and again when it could not be read):
//! its endpoints, the algorithms it signs with, and the issuer its tokens must carry.

use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeySet, ProviderMetadataWithLogout};

use super::http::{HttpClientError, OidcHttp};

/// The placeholder Entra ID's `organizations` and `common` endpoints publish in their issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

const CONFIG_PATH: &str = ".well-known/openid-configuration";

/// Which `iss` a token must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    /// Exactly the issuer the discovery document states (which is the configured one).
    Exact(String),
    /// Entra ID's multi-tenant endpoints state a template: a token's `iss` must equal it with the
    /// token's own `tid` in place of `{tenantid}`, and that tenant must be allowed.
    Templated(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Http(#[from] HttpClientError),
    #[error("the identity provider's discovery document at {url}: {why}")]
    Document { url: String, why: String },
    #[error(
        "the identity provider states issuer {stated}, not the configured {configured}; configure the issuer it states"
    )]
    IssuerMismatch { configured: String, stated: String },
    #[error("the identity provider's signing keys: {0}")]
    Keys(String),
}

impl IssuerRule {
    /// From the configured issuer and the one its discovery document states. Only a stated
    /// template whose fixed parts surround the configured issuer's tenant segment is accepted, so
    /// `…/organizations/v2.0` may state `…/{tenantid}/v2.0`, and nothing else may differ.
    pub fn from_discovery(configured: &str, stated: &str) -> Result<Self, DiscoveryError> {
        let trimmed = |url: &str| url.trim_end_matches('/').to_string();
        if trimmed(configured) == trimmed(stated) {
            return Ok(Self::Exact(stated.to_string()));
        }
        let mismatch = || DiscoveryError::IssuerMismatch {
            configured: configured.to_string(),
            stated: stated.to_string(),
        };
        let (before, after) = stated.split_once(TENANT_PLACEHOLDER).ok_or_else(mismatch)?;
        let configured = trimmed(configured);
        let tenant_segment = configured
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after.trim_end_matches('/')))
            .ok_or_else(mismatch)?;
        if tenant_segment.is_empty() || tenant_segment.contains('/') {
            return Err(mismatch());
        }
        Ok(Self::Templated(stated.to_string()))
    }

    pub fn is_templated(&self) -> bool {
        matches!(self, Self::Templated(_))
    }
}

pub type Metadata = ProviderMetadataWithLogout;

/// What discovery found: the document, the issuer rule and the keys at the time.
#[derive(Debug, Clone)]
pub struct Provider {
    pub metadata: Metadata,
    pub issuer: IssuerRule,
    pub keys: CoreJsonWebKeySet,
}

impl Provider {
    /// The algorithms the provider announces for ID tokens that pipelog accepts.
    pub fn algorithms(&self) -> Vec<CoreJwsSigningAlgorithm> {
        super::asymmetric(self.metadata.id_token_signing_alg_values_supported())
    }
}

/// Reads `issuer`'s discovery document and its key set.
pub async fn discover(http: &OidcHttp, issuer: &str) -> Result<Provider, DiscoveryError> {
    let url = format!("{}/{CONFIG_PATH}", issuer.trim_end_matches('/'));
    let document = |why: String| DiscoveryError::Document {
        url: url.clone(),
        why,
    };
    let request = openidconnect::http::Request::builder()
        .uri(&url)
        .header("accept", "application/json")
        .body(Vec::new())
        .map_err(|error| document(error.to_string()))?;
    let answer = http.send(request).await?;
    if !answer.status().is_success() {
        return Err(document(format!("HTTP status {}", answer.status())));
    }
    let metadata: Metadata =
        serde_json::from_slice(answer.body()).map_err(|error| document(error.to_string()))?;
    let issuer = IssuerRule::from_discovery(issuer, metadata.issuer().as_str())?;
    let keys = fetch_keys(http, &metadata).await?;
    Ok(Provider {
        metadata,
        issuer,
        keys,
    })
}

/// The provider's current key set.
pub async fn fetch_keys(
    http: &OidcHttp,
    metadata: &Metadata,
) -> Result<CoreJsonWebKeySet, DiscoveryError> {
    JsonWebKeySet::fetch_async(metadata.jwks_uri(), http)
        .await
        .map_err(|error| DiscoveryError::Keys(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_the_configured_one_or_an_entra_template_around_its_tenant() {
        let rule = IssuerRule::from_discovery(
            "https://id.example.com/realms/sales/",
            "https://id.example.com/realms/sales",
        )
        .expect("the same issuer");
        assert_eq!(
            rule,
            IssuerRule::Exact("https://id.example.com/realms/sales".into())
        );
        let rule = IssuerRule::from_discovery(
            "https://login.microsoftonline.com/organizations/v2.0",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        )
        .expect("Entra's multi-tenant endpoint");
        assert!(rule.is_templated());
        for (configured, stated) in [
            (
                "https://id.example.com/realms/sales",
                "https://evil.example.com/realms/sales",
            ),
            (
                "https://login.microsoftonline.com/organizations/v2.0",
                "https://login.example.com/{tenantid}/v2.0",
            ),
            (
                "https://login.microsoftonline.com/organizations/v2.0",
                "https://login.microsoftonline.com/{tenantid}/v1.0",
            ),
            (
                "https://login.microsoftonline.com/a/b/v2.0",
                "https://login.microsoftonline.com/{tenantid}/v2.0",
            ),
        ] {
            assert!(
                matches!(
                    IssuerRule::from_discovery(configured, stated),
                    Err(DiscoveryError::IssuerMismatch { .. })
                ),
                "{configured} stating {stated}"
            );
        }
    }
}
