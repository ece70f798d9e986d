//! Middleware every request passes: CSRF (Fetch Metadata, then Origin), security and caching
//! headers, and one JSON shape for every error, including those no handler produced (unknown
//! routes, wrong methods, malformed paths, bodies over the limit).

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Refuses state-changing requests a browser sent from another site: `Sec-Fetch-Site` must be
/// same-origin (or absent, as from non-browser clients), and an `Origin`, if present, must be this
/// server's (see [`origin_allowed`]).
pub async fn csrf(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(next.run(request).await);
    }
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(ApiError::Forbidden(format!(
            "cross-site request refused (Sec-Fetch-Site: {site})"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && !origin_allowed(origin, &state.options)
    {
        let hint = if state.options.base_url.is_none() {
            "; serving under a name? set --base-url (PIPELOG_BASE_URL) to the address people open"
        } else {
            ""
        };
        return Err(ApiError::Forbidden(format!(
            "cross-site request refused (Origin: {origin}){hint}"
        )));
    }
    Ok(next.run(request).await)
}

/// Scheme, host and port of an origin, as browsers compare them.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn parse_origin(text: &str) -> Option<Origin> {
    let url = reqwest::Url::parse(text).ok()?;
    Some(Origin {
        scheme: url.scheme().to_string(),
        host: url
            .host_str()?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase(),
        port: url.port_or_known_default()?,
    })
}

/// With a configured base URL, the Origin must be exactly its origin. Without one, the Host header
/// proves nothing (a DNS-rebinding page sends its own name in both), so only origins that no other
/// site can have are accepted: this server's scheme and port, on a loopback host or an address
/// literal the server listens on (a name can be rebound, an address literal cannot).
pub(super) fn origin_allowed(origin: &str, options: &super::ServerOptions) -> bool {
    let Some(origin) = parse_origin(origin) else {
        return false;
    };
    if let Some(base) = &options.base_url {
        return parse_origin(base).is_some_and(|base| base == origin);
    }
    let scheme_ok = origin.scheme == "http" || (options.secure_cookies && origin.scheme == "https");
    let Some(listen) = options.listen else {
        // In-process (no socket): loopback only.
        return scheme_ok && is_loopback_host(&origin.host);
    };
    if !scheme_ok || origin.port != listen.port() {
        return false;
    }
    if is_loopback_host(&origin.host) {
        return true;
    }
    match origin.host.parse::<IpAddr>() {
        Ok(address) => listen.ip().is_unspecified() || address == listen.ip(),
        Err(_) => false,
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_data = {
        let path = request.uri().path();
        path.starts_with("/api/") || path == "/healthz" || path == "/metrics"
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    // Answers carry one person's data: no shared or browser cache may keep them.
    if is_data && !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    response
}

/// The largest plain-text error body turned into JSON; longer ones are cut.
const ERROR_TEXT_LIMIT: usize = 2_048;

/// Turns every error answer that is not JSON yet (axum's rejections, the router's 404 and 405,
/// tower-http's timeouts) into the API's one error shape, keeping the status and the text.
pub async fn errors_as_json(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let status = response.status();
    // The body was not (all) read: the connection cannot carry another request, so say so, and a
    // client does not send its next request into a connection about to close.
    if matches!(
        status,
        axum::http::StatusCode::PAYLOAD_TOO_LARGE | axum::http::StatusCode::REQUEST_TIMEOUT
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, ERROR_TEXT_LIMIT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut json = ApiError::body(status, &message);
    for name in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
        if let Some(value) = parts.headers.get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

/// Unknown routes.
pub async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServerOptions;

    fn options(listen: &str, base_url: Option<&str>) -> ServerOptions {
        ServerOptions {
            listen: Some(listen.parse().expect("address")),
            base_url: base_url.map(str::to_string),
            ..ServerOptions::for_tests()
        }
    }

    #[test]
    fn without_a_base_url_only_loopback_or_the_listen_address_with_its_scheme_and_port_pass() {
        let local = options("127.0.0.1:8080", None);
        assert!(origin_allowed("http://127.0.0.1:8080", &local));
        assert!(origin_allowed("http://localhost:8080", &local));
        assert!(origin_allowed("http://[::1]:8080", &local));
        assert!(
            !origin_allowed("http://evil.example", &local),
            "a name can be rebound"
        );
        assert!(!origin_allowed("http://evil.example:8080", &local));
        assert!(
            !origin_allowed("https://127.0.0.1:8080", &local),
            "scheme differs"
        );
        assert!(
            !origin_allowed("http://127.0.0.1:9090", &local),
            "port differs"
        );
        assert!(!origin_allowed("null", &local));
        let everywhere = options("0.0.0.0:8080", None);
        assert!(origin_allowed("http://192.168.1.20:8080", &everywhere));
        assert!(!origin_allowed("http://pipeline.lan:8080", &everywhere));
        let one = options("10.0.0.5:8080", None);
        assert!(origin_allowed("http://10.0.0.5:8080", &one));
        assert!(!origin_allowed("http://10.0.0.6:8080", &one));
    }

    #[test]
    fn with_a_base_url_the_origin_must_be_its_origin() {
        let public = options("127.0.0.1:8080", Some("https://pipeline.example.com/"));
        assert!(origin_allowed("https://pipeline.example.com", &public));
        assert!(origin_allowed("https://PIPELINE.example.com:443", &public));
        assert!(
            !origin_allowed("http://pipeline.example.com", &public),
            "scheme"
        );
        assert!(
            !origin_allowed("https://pipeline.example.com:8443", &public),
            "port"
        );
        assert!(!origin_allowed("https://evil.example", &public));
        assert!(!origin_allowed("http://127.0.0.1:8080", &public));
    }
}
