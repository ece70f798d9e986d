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
    TooManyRequests {
        retry_after_seconds: u64,
    },
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
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => {
                let message =
                    format!("too many failed sign-ins; try again in {retry_after_seconds} s");
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
