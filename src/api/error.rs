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
