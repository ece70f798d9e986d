//! One sign-in through the provider, from the redirect to a verified identity: the authorization
//! code flow with PKCE (S256), `state` and `nonce` held here, single-use and short-lived, and bound
//! to the browser that started it by a cookie value, so a link with someone else's code cannot sign
//! a victim in as the attacker.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreResponseType,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse,
};

use super::{
    CLOCK_SKEW, DiscoveryError, KeyCache, OidcHttp, Provider, TenantClaims, TokenChecks,
    TokenRejected, VerifiedSignIn, discover, fetch_keys, verify_id_token,
};
use crate::sync::odoo::Secret;

/// Single sign-on as configured (`[sso]`).
#[derive(Debug, Clone)]
pub struct SsoSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `None`: the public base URL + [`CALLBACK_PATH`].
    pub redirect_url: Option<String>,
    pub scopes: Vec<String>,
    pub allowed_domains: Vec<String>,
    pub allowed_tenants: Vec<String>,
    pub require_approval: bool,
    pub label: String,
    pub password_sign_in: bool,
    pub microsoft: bool,
    pub key_refetch_floor: Duration,
}

/// Where the provider sends the browser back.
pub const CALLBACK_PATH: &str = "/api/auth/sso/callback";
/// How long a person may take at the provider.
pub const SIGN_IN_VALID_FOR: Duration = Duration::from_secs(10 * 60);
/// Sign-ins started and not finished, at most (each holds a few hundred bytes).
const MAX_PENDING: usize = 10_000;
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        TenantClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type SsoClient = Client<
    TenantClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in through the provider did not give an identity.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider is not set up as pipelog expects: {0}")]
    Provider(String),
    #[error("this sign-in is unknown, used or too old; start again")]
    UnknownState,
    #[error("the sign-in was cancelled at the identity provider")]
    Cancelled,
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error(transparent)]
    Token(#[from] TokenRejected),
}

impl SignInError {
    /// A short code the sign-in page turns into a message a person can act on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Provider(_) | Self::Refused(_) => "refused",
            Self::UnknownState => "expired",
            Self::Cancelled => "cancelled",
            Self::Token(TokenRejected::DomainNotAllowed(_)) => "domain",
            Self::Token(TokenRejected::TenantNotAllowed(_) | TokenRejected::TenantMissing) => {
                "tenant"
            }
            Self::Token(_) => "token",
        }
    }
}

impl From<DiscoveryError> for SignInError {
    fn from(error: DiscoveryError) -> Self {
        match error {
            DiscoveryError::Http(error) => Self::Unreachable(error.to_string()),
            other => Self::Provider(other.to_string()),
        }
    }
}

struct PendingSignIn {
    browser: String,
    verifier: String,
    nonce: String,
    started: Instant,
}

/// The redirect to the provider, and the value the browser must bring back in a cookie.
pub struct StartedSignIn {
    pub url: String,
    pub browser: String,
}

/// Single sign-on for one server: the provider (discovered at the first sign-in, and again while
/// that fails), its keys, and the sign-ins under way.
pub struct SignOn {
    settings: SsoSettings,
    redirect_url: RedirectUrl,
    http: OidcHttp,
    provider: tokio::sync::Mutex<Option<Provider>>,
    keys: tokio::sync::Mutex<KeyCache>,
    pending: Mutex<HashMap<String, PendingSignIn>>,
}

impl SignOn {
    /// `base_url` is the public one, for the default redirect URL.
    pub fn new(settings: SsoSettings, base_url: Option<&str>) -> Result<Self, SignInError> {
        let redirect = match (&settings.redirect_url, base_url) {
            (Some(url), _) => url.clone(),
            (None, Some(base)) => format!("{}{CALLBACK_PATH}", base.trim_end_matches('/')),
            (None, None) => {
                return Err(SignInError::Provider(
                    "single sign-on needs the public address: pass --base-url or set sso.redirect_url".into(),
                ));
            }
        };
        let redirect_url = RedirectUrl::new(redirect)
            .map_err(|error| SignInError::Provider(format!("the redirect URL: {error}")))?;
        let http = OidcHttp::new(PROVIDER_TIMEOUT)
            .map_err(|error| SignInError::Provider(error.to_string()))?;
        let keys = KeyCache::new(settings.key_refetch_floor);
        Ok(Self {
            settings,
            redirect_url,
            http,
            provider: tokio::sync::Mutex::new(None),
            keys: tokio::sync::Mutex::new(keys),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> &SsoSettings {
        &self.settings
    }

    pub fn redirect_url(&self) -> &str {
        self.redirect_url.as_str()
    }

    async fn provider(&self) -> Result<Provider, SignInError> {
        let mut held = self.provider.lock().await;
        if let Some(provider) = held.as_ref() {
            return Ok(provider.clone());
        }
        let provider = discover(&self.http, &self.settings.issuer).await?;
        if provider.algorithms().is_empty() {
            return Err(SignInError::Provider(
                "it announces no asymmetric signing algorithm for ID tokens".into(),
            ));
        }
        self.keys
            .lock()
            .await
            .replace(provider.keys.clone(), Timestamp::now());
        *held = Some(provider.clone());
        Ok(provider)
    }

    fn client(&self, provider: &Provider) -> SsoClient {
        SsoClient::from_provider_metadata(
            provider.metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose().to_string(),
            )),
        )
        .set_redirect_uri(self.redirect_url.clone())
    }

    /// Begins a sign-in: where to send the browser, and what it must bring back.
    pub async fn start(&self) -> Result<StartedSignIn, SignInError> {
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(&provider);
        let mut request = client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self
            .settings
            .scopes
            .iter()
            .filter(|scope| *scope != "openid")
        {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let browser = CsrfToken::new_random().secret().clone();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, sign_in| sign_in.started.elapsed() < SIGN_IN_VALID_FOR);
        if pending.len() >= MAX_PENDING {
            return Err(SignInError::Unreachable(
                "too many sign-ins are under way; try again in a few minutes".into(),
            ));
        }
        pending.insert(
            state.secret().clone(),
            PendingSignIn {
                browser: browser.clone(),
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                started: Instant::now(),
            },
        );
        Ok(StartedSignIn {
            url: url.to_string(),
            browser,
        })
    }

    /// Takes the sign-in `state` names (it works once), checks it came back to the browser that
    /// started it, and forgets it either way.
    fn take(&self, state: &str, browser: Option<&str>) -> Result<PendingSignIn, SignInError> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let sign_in = pending.remove(state).ok_or(SignInError::UnknownState)?;
        let same_browser =
            browser.is_some_and(|browser| crate::auth::secrets_equal(browser, &sign_in.browser));
        if !same_browser || sign_in.started.elapsed() >= SIGN_IN_VALID_FOR {
            return Err(SignInError::UnknownState);
        }
        Ok(sign_in)
    }

    /// Forgets a sign-in the provider ended with an error (the person cancelled, or it refused).
    pub fn abandon(&self, state: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.remove(state);
    }

    /// Finishes a sign-in: exchanges the code (with the PKCE verifier) and checks the ID token.
    pub async fn finish(
        &self,
        state: &str,
        code: &str,
        browser: Option<&str>,
    ) -> Result<VerifiedSignIn, SignInError> {
        let sign_in = self.take(state, browser)?;
        let provider = self.provider().await?;
        let client = self.client(&provider);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|error| SignInError::Provider(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(sign_in.verifier));
        let answer = exchange
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::Request(error) => SignInError::Unreachable(error.to_string()),
                RequestTokenError::ServerResponse(answer) => {
                    SignInError::Refused(answer.to_string())
                }
                other => SignInError::Refused(other.to_string()),
            })?;
        let token = answer.extra_fields().id_token().ok_or_else(|| {
            TokenRejected::Malformed("the provider answered without an ID token".into())
        })?;
        let checks = TokenChecks {
            client_id: self.settings.client_id.clone(),
            issuer: provider.issuer.clone(),
            algorithms: provider.algorithms(),
            allowed_tenants: self.settings.allowed_tenants.clone(),
            allowed_domains: self.settings.allowed_domains.clone(),
            microsoft: self.settings.microsoft,
            clock_skew: CLOCK_SKEW,
        };
        let nonce = Nonce::new(sign_in.nonce);
        let mut keys = self.keys.lock().await;
        let first = verify_id_token(token, keys.keys(), &checks, &nonce, Timestamp::now());
        match first {
            // The provider may have rotated its keys since they were read: read them once more.
            Err(TokenRejected::UnknownKey) if keys.may_fetch(Timestamp::now()) => {
                let fresh = fetch_keys(&self.http, &provider.metadata).await?;
                keys.replace(fresh, Timestamp::now());
                Ok(verify_id_token(
                    token,
                    keys.keys(),
                    &checks,
                    &nonce,
                    Timestamp::now(),
                )?)
            }
            other => Ok(other?),
        }
    }

    /// The provider's end-session endpoint, when it announces one (and discovery has run).
    pub async fn end_session_url(&self) -> Option<String> {
        let held = self.provider.lock().await;
        let endpoint = held
            .as_ref()?
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut url = endpoint.url().clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id);
        Some(url.to_string())
    }
}
