//! The one place errors become HTTP answers. Clients get a JSON error saying what is wrong; server
//! faults get a generic message with a request id, and the full chain goes to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::queries::QueryError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    /// Not signed in, or the session ended.
    Unauthorized(String),
    Forbidden(String),
    /// Missing, or outside the caller's reach (never told apart).
    NotFound,
    /// The body is larger than the route accepts.
    PayloadTooLarge(String),
    /// A body that is not JSON (`Content-Type`).
    UnsupportedMediaType(String),
    /// The client took too long to send the body.
    RequestTimeout(String),
    /// An `Idempotency-Key` reused with a different request.
    KeyReused(String),
    /// A request with the same `Idempotency-Key` is still being processed.
    InProgress(String),
    TooManyRequests {
        message: String,
        retry_after_seconds: u64,
    },
    /// The server is at a limit it keeps on purpose (concurrent downloads, say); try again later.
    Unavailable(String),
    /// A stale `If-Match`: the record moved on.
    Conflict {
        message: String,
        current_version: u64,
    },
    /// Odoo refused or failed a write-back; the message is Odoo's reason.
    Upstream(String),
    Internal(String),
}

impl ApiError {
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(error.to_string())
    }

    /// A throttled request: too many `what`, and how long to wait.
    pub fn throttled(what: &str, wait: std::time::Duration) -> ApiError {
        let seconds = wait.as_secs().max(1);
        ApiError::TooManyRequests {
            message: format!("too many {what}; try again in {seconds} s"),
            retry_after_seconds: seconds,
        }
    }

    /// An extractor's rejection, keeping its status where it says what is wrong with the request
    /// (too large, not JSON) and answering 400 for the rest.
    pub fn rejected(status: StatusCode, message: String) -> ApiError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
            StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout(message),
            _ => ApiError::BadRequest(message),
        }
    }

    /// Builds the one error shape for any status (used for answers that did not come from a
    /// handler: unknown routes, wrong methods, rejections).
    pub fn body(status: StatusCode, message: &str) -> Response {
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::REQUEST_TIMEOUT => "timeout",
            status if status.is_server_error() => "internal",
            _ => "bad_request",
        };
        (
            status,
            axum::Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::NotFound => ApiError::NotFound,
            QueryError::BadInput(message) => ApiError::BadRequest(message),
            QueryError::Store(error) => ApiError::internal(error),
        }
    }
}

impl From<crate::commands::CommandError> for ApiError {
    fn from(error: crate::commands::CommandError) -> Self {
        use crate::commands::CommandError as E;
        match error {
            E::NotFound => ApiError::NotFound,
            E::NotAllowed(message) => ApiError::Forbidden(message),
            E::Invalid(message) => ApiError::BadRequest(message),
            E::Conflict { current, .. } => ApiError::Conflict {
                message: format!(
                    "the record changed meanwhile; its current version is {current}: reload and try again"
                ),
                current_version: current,
            },
            E::KeyReused => ApiError::KeyReused(
                "this Idempotency-Key was used for a different request; use a new key for a new request"
                    .into(),
            ),
            E::Odoo(error) => ApiError::Upstream(error.to_string()),
            E::Store(error) => ApiError::internal(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, "bad_request", message),
            ApiError::Unauthorized(message) => (StatusCode::UNAUTHORIZED, "unauthorized", message),
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, "forbidden", message),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "not found".to_string()),
            ApiError::PayloadTooLarge(message) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            }
            ApiError::UnsupportedMediaType(message) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            ),
            ApiError::RequestTimeout(message) => (StatusCode::REQUEST_TIMEOUT, "timeout", message),
            ApiError::KeyReused(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                message,
            ),
            ApiError::InProgress(message) => (StatusCode::CONFLICT, "in_progress", message),
            ApiError::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            ApiError::TooManyRequests {
                message,
                retry_after_seconds,
            } => {
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({"error": {"code": "throttled", "message": message}})),
                )
                    .into_response();
                if let Ok(value) = retry_after_seconds.to_string().parse() {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, value);
                }
                return response;
            }
            ApiError::Conflict {
                message,
                current_version,
            } => {
                let body = json!({"error": {"code": "conflict", "message": message, "current_version": current_version}});
                return (StatusCode::CONFLICT, axum::Json(body)).into_response();
            }
            ApiError::Upstream(message) => (StatusCode::BAD_GATEWAY, "odoo_refused", message),
            ApiError::Internal(detail) => {
                let request_id = uuid::Uuid::now_v7();
                tracing::error!(%request_id, error = %detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("internal error (request id {request_id})"),
                )
            }
        };
        (
            status,
            axum::Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    }
}
