//! Single sign-on: the sign-in page's options, the redirect to the provider and its way back. The
//! protocol is `auth::oidc`'s and the account rules `commands`'; this answers browsers with
//! redirects, and a failure with the sign-in page and a code it explains.

use axum::response::Redirect;

use super::session::{http_only_cookie, open_session, session_cookie};
use super::*;
use crate::api::answers::{SignInOptions, SsoOption};
use crate::api::cookie_value;
use crate::auth::oidc::{SIGN_IN_VALID_FOR, SignInError, SignOn};
use crate::commands::ExternalSignInError;

/// Ties a sign-in under way to the browser that began it; sent back only to the callback.
const BROWSER_COOKIE: &str = "pipelog_sso";
const START_PATH: &str = "/api/auth/sso/start";

#[utoipa::path(
    get, path = "/api/auth/options", tag = "session",
    responses((status = 200, description = "how people may sign in here", body = SignInOptions)),
)]
pub async fn sign_in_options(State(state): State<AppState>) -> Json<SignInOptions> {
    let settings = state.sso.as_ref().map(|sso| sso.settings());
    let password_sign_in = settings.is_none_or(|settings| settings.password_sign_in);
    Json(SignInOptions {
        password_sign_in,
        signup: password_sign_in,
        sso: settings.map(|settings| SsoOption {
            label: settings.label.clone(),
            start_url: START_PATH.into(),
        }),
    })
}

fn sign_on(state: &AppState) -> Result<&SignOn, ApiError> {
    state.sso.as_deref().ok_or(ApiError::NotFound)
}

/// Back to the sign-in page, which explains `code`.
fn to_sign_in_page(code: &str) -> Response {
    Redirect::to(&format!("/#/login?sso_error={code}")).into_response()
}

fn browser_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    http_only_cookie(state, BROWSER_COOKIE, value, "/api/auth/sso", max_age)
}

#[utoipa::path(
    get, path = "/api/auth/sso/start", tag = "session",
    responses(
        (status = 303, description = "to the identity provider; or, when it cannot be reached, back to the sign-in page with `sso_error` (`unreachable`, or `busy` after too many from one address)"),
        (status = 404, description = "single sign-on is not configured", body = ErrorBody),
    ),
)]
pub async fn sso_start(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
) -> Result<Response, ApiError> {
    let sso = sign_on(&state)?;
    if state
        .guards
        .sso_starts
        .take(&address, std::time::Instant::now())
        .is_err()
    {
        return Ok(to_sign_in_page("busy"));
    }
    let started = match sso.start().await {
        Ok(started) => started,
        Err(error) => {
            tracing::warn!(%error, "single sign-on could not begin");
            return Ok(to_sign_in_page(error.code()));
        }
    };
    let mut response = Redirect::to(&started.url).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        browser_cookie(&state, &started.browser, SIGN_IN_VALID_FOR.as_secs()),
    );
    Ok(response)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct CallbackParams {
    /// The authorization code, on success.
    pub code: Option<String>,
    /// The value pipelog sent, naming the sign-in under way.
    pub state: Option<String>,
    /// The provider's error code, e.g. `access_denied` when the person cancelled.
    pub error: Option<String>,
}

#[utoipa::path(
    get, path = "/api/auth/sso/callback", tag = "session", params(CallbackParams),
    responses(
        (status = 303, description = "signed in (the session cookie is set) and to the dashboard; or back to the sign-in page with `sso_error`: unreachable, cancelled, expired, refused, token, domain, tenant, unverified, linked, pending, disabled"),
        (status = 404, description = "single sign-on is not configured", body = ErrorBody),
    ),
)]
pub async fn sso_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Result<Response, ApiError> {
    let sso = sign_on(&state)?;
    let mut response = match finish(&state, sso, &headers, params).await {
        Ok(token) => {
            let mut response = Redirect::to("/#/dashboard").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(&state, &token, SESSION_ABSOLUTE.as_secs()),
            );
            response
        }
        Err(code) => to_sign_in_page(code),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, browser_cookie(&state, "", 0));
    Ok(response)
}

/// The session token of a finished sign-in, or the code that says why there is none.
async fn finish(
    state: &AppState,
    sso: &SignOn,
    headers: &HeaderMap,
    params: CallbackParams,
) -> Result<String, &'static str> {
    let state_value = params.state.unwrap_or_default();
    if let Some(error) = params.error {
        sso.abandon(&state_value);
        return Err(if error == "access_denied" {
            SignInError::Cancelled.code()
        } else {
            tracing::warn!(provider_error = %error, "the identity provider ended a sign-in");
            "refused"
        });
    }
    let code = params.code.unwrap_or_default();
    let browser = cookie_value(headers, BROWSER_COOKIE);
    let verified = sso
        .finish(&state_value, &code, browser.as_deref())
        .await
        .map_err(|error| {
            tracing::warn!(%error, "a single sign-on was refused");
            error.code()
        })?;
    let previous = cookie_value(headers, SESSION_COOKIE);
    let require_approval = sso.settings().require_approval;
    let outcome = blocking(state, move |store| {
        let login = match crate::commands::account_for_sign_in(store, &verified, require_approval) {
            Ok(login) => login,
            Err(ExternalSignInError::EmailNotVouched) => return Ok(Err("unverified")),
            Err(ExternalSignInError::LinkedElsewhere(_)) => return Ok(Err("linked")),
            Err(other) => return Err(ApiError::internal(other)),
        };
        match login.status {
            LoginStatus::Pending => return Ok(Err("pending")),
            LoginStatus::Disabled => return Ok(Err("disabled")),
            LoginStatus::Approved => {}
        }
        let token = open_session(
            store,
            &login.email,
            previous.as_deref(),
            Some(verified.identity.issuer.clone()),
        )?;
        Ok(Ok(token))
    })
    .await;
    match outcome {
        Ok(result) => result,
        Err(error) => {
            tracing::error!(?error, "a single sign-on could not be recorded");
            Err("internal")
        }
    }
}
