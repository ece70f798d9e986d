//! The HTTP client the protocol crate calls: pipelog's own `reqwest`, which never follows a
//! redirect (a provider's endpoint that redirects could send the client secret elsewhere) and
//! bounds how long and how much a provider may answer.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The most a provider may answer in one response (discovery documents and key sets are a few KiB).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("the identity provider answered more than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("the identity provider's answer cannot be read: {0}")]
    Answer(String),
}

#[derive(Debug, Clone)]
pub struct OidcHttp(reqwest::Client);

impl OidcHttp {
    pub fn new(timeout: Duration) -> Result<Self, HttpClientError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()?;
        Ok(Self(client))
    }

    pub(super) async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpClientError> {
        let (parts, body) = request.into_parts();
        let mut response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(HttpClientError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = openidconnect::http::Response::builder().status(status);
        if let Some(map) = answer.headers_mut() {
            *map = headers;
        }
        answer
            .body(body)
            .map_err(|error| HttpClientError::Answer(error.to_string()))
    }
}

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = HttpClientError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpClientError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
