//! Signing in and out, who am I, sign-up and the first admin's one-time setup.

use super::*;
use crate::api::answers::{
    Accepted, LoginRequest, Me, SetupRequest, SignedIn, SignedOut, SignupRequest,
};
use crate::api::cookie_value;

/// A hash to verify against when the account does not exist, so both failures take as long.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$dGhpcyBpcyBub3QgYSByZWFsIGhhc2ggYXQgYWxsIQ";

pub(super) fn session_cookie(state: &AppState, token: &str, max_age: u64) -> HeaderValue {
    http_only_cookie(state, SESSION_COOKIE, token, "/", max_age)
}

/// An HttpOnly, SameSite=Lax cookie (`Secure` when configured); `max_age` 0 clears it. Lax: a
/// top-level navigation from another site (the identity provider's redirect back) carries it.
pub(super) fn http_only_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
) -> HeaderValue {
    let secure = if state.options.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{name}={value}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| {
        HeaderValue::from_str(&format!("{name}=; Path={path}; Max-Age=0"))
            .unwrap_or_else(|_| HeaderValue::from_static("pipelog_session=; Max-Age=0"))
    })
}

#[utoipa::path(
    post, path = "/api/auth/login", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, description = "signed in; the session cookie is set", body = SignedIn),
        (status = 401, description = "wrong email or password", body = ErrorBody),
        (status = 403, description = "waiting for approval, disabled, or cross-site", body = ErrorBody),
        (status = 429, description = "too many failures from here; see Retry-After", body = ErrorBody),
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    let email = normalize_email(&request.email);
    state
        .guards
        .sign_in
        .check(&email, &address, std::time::Instant::now())
        .map_err(|wait| ApiError::throttled("failed sign-ins", wait))?;
    let previous = cookie_value(&headers, SESSION_COOKIE);
    let task_state = state.clone();
    let outcome = blocking(&state, move |store| {
        let snapshot = store.read()?;
        let login = snapshot.login(&email)?;
        let stored = snapshot.credential(&email)?;
        let valid = verify_password(stored.as_deref().unwrap_or(DUMMY_HASH), &request.password)
            && stored.is_some();
        let throttle = &task_state.guards.sign_in;
        let Some(login) = login.filter(|_| valid) else {
            throttle.failed(&email, &address, std::time::Instant::now());
            return Err(ApiError::Unauthorized("wrong email or password".into()));
        };
        match login.status {
            LoginStatus::Pending => {
                return Err(ApiError::Forbidden(
                    "your account is waiting for an admin's approval".into(),
                ));
            }
            LoginStatus::Disabled => {
                return Err(ApiError::Forbidden(
                    "your account is disabled; ask an admin".into(),
                ));
            }
            LoginStatus::Approved => {}
        }
        if let Some(sso) = task_state.sso.as_ref()
            && !sso.settings().password_sign_in
            && login.role != crate::domain::Role::Admin
        {
            return Err(ApiError::Forbidden(format!(
                "password sign-in is switched off here: use \"{}\"",
                sso.settings().label
            )));
        }
        throttle.succeeded(&email, &address);
        let token = open_session(store, &email, previous.as_deref(), None)?;
        Ok((token, login))
    })
    .await?;
    let (token, login) = outcome;
    let mut response = Json(SignedIn {
        email: login.email,
        name: login.name,
        role: login.role,
    })
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &token, SESSION_ABSOLUTE.as_secs()),
    );
    Ok(response)
}

/// Begins a session for `email` (signed in with a password, or through `provider`) and records
/// the sign-in. The session the browser had before, if any, ends: a new session id at every
/// sign-in makes a session planted before it worthless.
pub(super) fn open_session(
    store: &Store,
    email: &str,
    previous: Option<&str>,
    provider: Option<String>,
) -> Result<String, ApiError> {
    if let Some(old) = previous {
        store.delete_session(&token_hash(old))?;
    }
    let token = new_session_token();
    let now = jiff::Timestamp::now();
    let session = SessionRecord {
        email: email.to_string(),
        created_at: now,
        last_seen_at: now,
        provider: provider.clone(),
    };
    store.put_session(
        &token_hash(&token),
        &serde_json::to_vec(&session).map_err(ApiError::internal)?,
    )?;
    let metadata = Metadata {
        actor: Some(email.to_string()),
        source: Some(if provider.is_some() { "sso" } else { "api" }.into()),
        ..Metadata::default()
    };
    store.append(CommandBatch::new(vec![
        NewEvent::new(Event::UserLoggedIn {
            email: email.to_string(),
            provider,
        })
        .with_metadata(metadata),
    ]))?;
    Ok(token)
}

#[utoipa::path(
    post, path = "/api/auth/logout", tag = "session", security(("session" = [])),
    responses(
        (status = 204, description = "signed out; the cookie is cleared"),
        (status = 200, description = "signed out of pipelog; the session came from single sign-on, and this is where to sign out of the provider too", body = SignedOut),
    ),
)]
pub async fn logout(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    let hash = current.token_hash.clone();
    blocking(&state, move |store| Ok(store.delete_session(&hash)?)).await?;
    let end_session_url = match (&state.sso, current.provider.is_some()) {
        (Some(sso), true) => sso.end_session_url().await,
        _ => None,
    };
    let mut response = match end_session_url {
        Some(url) => Json(SignedOut {
            end_session_url: url,
        })
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok(response)
}

#[utoipa::path(
    get, path = "/api/me", tag = "session", security(("session" = [])),
    responses(
        (status = 200, body = Me),
        (status = 403, description = "waiting for approval or disabled", body = ErrorBody),
    ),
)]
pub async fn me(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    let viewer = current.viewer;
    let user = viewer.user_id();
    let profile = blocking(&state, move |store| {
        Ok(match user {
            Some(user) => store.read()?.profile(user)?,
            None => None,
        })
    })
    .await?;
    Ok(Json(Me {
        email: viewer.login.email.clone(),
        name: viewer.login.name.clone(),
        role: viewer.login.role,
        is_admin: viewer.is_admin(),
        user_id: user,
        manager_id: profile.as_ref().and_then(|p| p.manager_id),
        direct_reports: profile
            .as_ref()
            .map(|p| p.direct_reports.clone())
            .unwrap_or_default(),
        is_manager: profile.as_ref().is_some_and(|p| p.is_manager),
        job_title: profile.as_ref().and_then(|p| p.job_title.clone()),
        demo: state.options.demo,
        sync_configured: state.sync_configured,
    })
    .into_response())
}

/// A new account waits for an admin. The answer is the same whether or not the email was known.
/// Sign-ups are limited per client address and in total, and so is the number waiting; those that
/// waited too long expire.
#[utoipa::path(
    post, path = "/api/auth/signup", tag = "session", request_body = SignupRequest,
    responses(
        (status = 202, description = "waiting for an admin (the same answer whether or not the email was known)", body = Accepted),
        (status = 429, description = "too many sign-ups from here or in all; see Retry-After", body = ErrorBody),
        (status = 503, description = "too many sign-ups are waiting for approval", body = ErrorBody),
    ),
)]
pub async fn signup(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Result<Json<SignupRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    if let Some(sso) = state.sso.as_ref()
        && !sso.settings().password_sign_in
    {
        return Err(ApiError::Forbidden(format!(
            "accounts here are made by signing in: use \"{}\"",
            sso.settings().label
        )));
    }
    let (email, name) = crate::auth::check_new_account(&request.email, &request.name)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    crate::auth::check_new_password(&request.password)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    state
        .guards
        .sign_up
        .take(&address, std::time::Instant::now())
        .map_err(|wait| ApiError::throttled("sign-ups", wait))?;
    blocking(&state, move |store| {
        if store.read()?.login(&email)?.is_some() {
            return Ok(());
        }
        let waiting = crate::commands::expire_old_signups(store, jiff::Timestamp::now())?;
        if waiting >= crate::commands::MAX_PENDING_SIGNUPS {
            return Err(ApiError::Unavailable(
                "too many sign-ups are waiting for an admin's approval; try again later".into(),
            ));
        }
        let hash = crate::auth::hash_password(&request.password).map_err(ApiError::internal)?;
        crate::commands::register_account(
            store,
            crate::commands::NewAccount {
                email: &email,
                name: &name,
                role: crate::domain::Role::Member,
                approved: false,
                password_hash: Some(&hash),
                identity: None,
                actor: &email,
                source: "api",
            },
        )?;
        Ok(())
    })
    .await?;
    let answer = Accepted {
        status: "pending".into(),
        message: "an admin has to approve the account before it can sign in".into(),
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// Creates the first admin with the one-time token `serve` printed; the token then stops working.
#[utoipa::path(
    post, path = "/api/setup", tag = "session", request_body = SetupRequest,
    responses(
        (status = 201, description = "the first admin exists; the token stops working", body = Accepted),
        (status = 403, description = "the token is used, expired or wrong", body = ErrorBody),
    ),
)]
pub async fn setup(
    State(state): State<AppState>,
    body: Result<Json<SetupRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    {
        let mut setup = state.setup.lock().unwrap_or_else(|p| p.into_inner());
        let valid = setup.as_ref().is_some_and(|(token, until)| {
            std::time::Instant::now() < *until && crate::auth::secrets_equal(token, &request.token)
        });
        if !valid {
            return Err(ApiError::Forbidden(
                "this setup link is not valid (used, expired, or mistyped)".into(),
            ));
        }
        *setup = None;
    }
    let checked = crate::auth::check_new_account(&request.email, &request.name)
        .and_then(|account| crate::auth::check_new_password(&request.password).map(|()| account));
    let (email, name) = checked.map_err(|error| {
        // Put nothing back: a new token needs a restart, so a mistake costs one restart, not a leak.
        ApiError::BadRequest(format!("{error}; restart pipelog for a new link"))
    })?;
    blocking(&state, move |store| {
        let hash = crate::auth::hash_password(&request.password).map_err(ApiError::internal)?;
        crate::commands::register_account(
            store,
            crate::commands::NewAccount {
                email: &email,
                name: &name,
                role: crate::domain::Role::Admin,
                approved: true,
                password_hash: Some(&hash),
                identity: None,
                actor: &email,
                source: "setup",
            },
        )?;
        Ok(())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Accepted {
            status: "created".into(),
            message: "sign in with the new admin account".into(),
        }),
    )
        .into_response())
}
