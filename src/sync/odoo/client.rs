//! The Odoo client: JSON-RPC (`/jsonrpc`, Odoo 16 to 18) and JSON-2 (`/json/2`, Odoo 19 and later,
//! where `/jsonrpc` is deprecated), chosen by the server's version unless configured.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::error::OdooError;

/// A password or API key: never printed.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Which API to speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolChoice {
    /// JSON-2 on Odoo 19 and later, JSON-RPC before.
    #[default]
    Auto,
    #[value(name = "jsonrpc")]
    #[serde(rename = "jsonrpc")]
    JsonRpc,
    #[value(name = "json2")]
    #[serde(rename = "json2")]
    Json2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    JsonRpc,
    Json2,
}

#[derive(Debug, Clone)]
pub struct OdooSettings {
    pub url: String,
    pub database: String,
    pub login: String,
    pub secret: Secret,
    pub protocol: ProtocolChoice,
    pub timeout: Duration,
    /// Extra attempts for transient failures.
    pub retries: u32,
    /// First wait between attempts; doubles each time.
    pub retry_backoff: Duration,
}

/// What the server is and who we are on it.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub version: String,
    pub major: u32,
    pub protocol: Protocol,
    pub uid: u64,
}

pub struct OdooClient {
    http: reqwest::Client,
    settings: OdooSettings,
    base: String,
    session: Mutex<Option<Session>>,
    /// Object calls allowed at once (unbounded without).
    in_flight: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

/// A method call: record ids (for methods on records) and named parameters.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub ids: Option<Vec<u64>>,
    pub params: Map<String, Value>,
}

impl Call {
    pub fn new() -> Self {
        Call::default()
    }

    pub fn on(ids: Vec<u64>) -> Self {
        Call {
            ids: Some(ids),
            params: Map::new(),
        }
    }

    pub fn param(mut self, name: &str, value: Value) -> Self {
        self.params.insert(name.to_string(), value);
        self
    }
}

/// The server's clock in an answer's `Date` header, when it has a readable one.
fn date_of(response: &reqwest::Response) -> Option<Timestamp> {
    response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(http_date)
}

/// An HTTP `Date` (`Tue, 01 Dec 2026 22:52:16 GMT`, RFC 9110).
fn http_date(text: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(text)
        .ok()
}

/// A JSON-RPC answer: its `result`, or its `error`. Odoo leaves `result` out for methods that
/// return None, and a `null` result is nothing returned too.
#[derive(Deserialize)]
struct Answer<T> {
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default)]
    error: Option<Value>,
}

impl OdooClient {
    pub fn new(settings: OdooSettings) -> Result<OdooClient, OdooError> {
        let base = settings.url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|error| OdooError::BadUrl {
            url: base.clone(),
            reason: error.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OdooError::BadUrl {
                url: base,
                reason: "use http:// or https://".into(),
            });
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(OdooError::BadUrl {
                url: parsed.host_str().unwrap_or_default().into(),
                reason: "put credentials in the login and password settings, not the URL".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("pipelog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| OdooError::BadUrl {
                url: base.clone(),
                reason: error.to_string(),
            })?;
        Ok(OdooClient {
            http,
            settings,
            base,
            session: Mutex::new(None),
            in_flight: None,
        })
    }

    /// Allows at most `calls` object calls at once, whoever makes them: callers may then ask for
    /// as much as they like concurrently, and Odoo's workers see no more than this.
    pub fn limit_in_flight(mut self, calls: usize) -> OdooClient {
        self.in_flight = Some(std::sync::Arc::new(tokio::sync::Semaphore::new(
            calls.max(1),
        )));
        self
    }

    pub fn settings(&self) -> &OdooSettings {
        &self.settings
    }

    /// Where a person opens CRM lead `id` in this Odoo's web client (see [`super::lead_url`]);
    /// never waits for a sign-in in progress.
    pub fn lead_url(&self, id: u64) -> String {
        let version = self
            .session
            .try_lock()
            .ok()
            .and_then(|session| session.as_ref().map(|s| s.version.clone()));
        super::lead_url(&self.base, version.as_deref(), id)
    }

    /// Finds the server's version, picks the protocol and signs in (once; later calls reuse it).
    pub async fn session(&self) -> Result<Session, OdooError> {
        let mut session = self.session.lock().await;
        if let Some(existing) = session.as_ref() {
            return Ok(existing.clone());
        }
        let (version, major) = self
            .with_retries("the version check", || self.version())
            .await?;
        if major < 16 {
            return Err(OdooError::Unsupported { version });
        }
        let protocol = match self.settings.protocol {
            ProtocolChoice::JsonRpc => Protocol::JsonRpc,
            ProtocolChoice::Json2 => Protocol::Json2,
            ProtocolChoice::Auto if major >= 19 => Protocol::Json2,
            ProtocolChoice::Auto => Protocol::JsonRpc,
        };
        let uid = match protocol {
            Protocol::JsonRpc => self.with_retries("sign-in", || self.authenticate()).await?,
            Protocol::Json2 => {
                let found: Value = self
                    .json2(
                        "res.users",
                        "search",
                        &Call::new().param("domain", json!([["login", "=", self.settings.login]])),
                    )
                    .await?;
                found
                    .as_array()
                    .and_then(|ids| ids.first())
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            }
        };
        let created = Session {
            version,
            major,
            protocol,
            uid,
        };
        *session = Some(created.clone());
        Ok(created)
    }

    /// Calls `model.method`, retrying transient failures with backoff.
    pub async fn call(&self, model: &str, method: &str, call: Call) -> Result<Value, OdooError> {
        self.call_as(model, method, call).await
    }

    /// Like [`OdooClient::call`], with the answer decoded straight into `T` (a page of records
    /// as raw JSON, say, without building a tree of values); `T::default()` when Odoo returned
    /// nothing.
    pub async fn call_as<T: DeserializeOwned + Default>(
        &self,
        model: &str,
        method: &str,
        call: Call,
    ) -> Result<T, OdooError> {
        let session = self.session().await?;
        let what = format!("{model}.{method}");
        let _slot = match &self.in_flight {
            Some(slots) => slots.acquire().await.ok(),
            None => None,
        };
        self.with_retries(&what, || async {
            match session.protocol {
                Protocol::JsonRpc => self.execute_kw(session.uid, model, method, &call).await,
                Protocol::Json2 => self.json2(model, method, &call).await,
            }
        })
        .await
    }

    async fn with_retries<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, OdooError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OdooError>>,
    {
        let mut wait = self.settings.retry_backoff;
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(error) if error.is_transient() && tries < self.settings.retries => {
                    tracing::warn!(call = what, attempt = tries + 1, error = %error, "Odoo call failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    async fn version(&self) -> Result<(String, u32), OdooError> {
        let (info, _) = self.version_answer("the version check").await?;
        let version = info["server_version"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        let major = info["server_version_info"][0]
            .as_u64()
            .or_else(|| {
                version
                    .split('.')
                    .next()
                    .and_then(|m| m.trim_start_matches("saas~").parse().ok())
            })
            .ok_or_else(|| OdooError::Malformed {
                what: "the version check".into(),
                reason: format!("no version in {info}"),
            })?;
        Ok((version, major as u32))
    }

    /// The server's clock, from the HTTP `Date` of an answer to a cheap call (whole seconds): the
    /// time of an answer received before a read began is not later than the read. `None` when the
    /// server sends no (readable) `Date`.
    pub async fn server_clock(&self) -> Result<Option<Timestamp>, OdooError> {
        Ok(self.version_answer("the clock check").await?.1)
    }

    /// Odoo's `common.version` (`server_version`, `server_version_info`) with the `Date` it came
    /// with. Odoo 20 removed /jsonrpc; /web/version answers on every version that has JSON-2.
    async fn version_answer(&self, what: &str) -> Result<(Value, Option<Timestamp>), OdooError> {
        match self
            .post_jsonrpc_dated("common", "version", json!([]), what)
            .await
        {
            Err(OdooError::Http { status: 404, .. }) => {
                let response = self
                    .send(self.http.get(format!("{}/web/version", self.base)), what)
                    .await?;
                let date = date_of(&response);
                let body: Value = read_json(response, what).await?;
                let info = json!({"server_version": body["version"], "server_version_info": body["version_info"]});
                Ok((info, date))
            }
            other => other,
        }
    }

    async fn authenticate(&self) -> Result<u64, OdooError> {
        let args = json!([
            self.settings.database,
            self.settings.login,
            self.settings.secret.expose(),
            {}
        ]);
        let uid = self
            .post_jsonrpc("common", "authenticate", args, "sign-in")
            .await?;
        match uid.as_u64() {
            Some(uid) if uid > 0 => Ok(uid),
            // A wrong password is `false`, not an error.
            _ => Err(OdooError::BadCredentials {
                login: self.settings.login.clone(),
            }),
        }
    }

    async fn execute_kw<T: DeserializeOwned + Default>(
        &self,
        uid: u64,
        model: &str,
        method: &str,
        call: &Call,
    ) -> Result<T, OdooError> {
        let positional = call
            .ids
            .as_ref()
            .map(|ids| vec![json!(ids)])
            .unwrap_or_default();
        let args = json!([
            self.settings.database,
            uid,
            self.settings.secret.expose(),
            model,
            method,
            positional,
            call.params
        ]);
        let what = format!("{model}.{method}");
        Ok(self
            .post_jsonrpc_dated("object", "execute_kw", args, &what)
            .await?
            .0)
    }

    async fn post_jsonrpc(
        &self,
        service: &str,
        method: &str,
        args: Value,
        what: &str,
    ) -> Result<Value, OdooError> {
        Ok(self
            .post_jsonrpc_dated(service, method, args, what)
            .await?
            .0)
    }

    /// A JSON-RPC call's result, with the HTTP `Date` of its answer.
    async fn post_jsonrpc_dated<T: DeserializeOwned + Default>(
        &self,
        service: &str,
        method: &str,
        args: Value,
        what: &str,
    ) -> Result<(T, Option<Timestamp>), OdooError> {
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": service, "method": method, "args": args}});
        let response = self
            .send(
                self.http.post(format!("{}/jsonrpc", self.base)).json(&body),
                what,
            )
            .await?;
        let date = date_of(&response);
        let answer: Answer<T> = read_json(response, what).await?;
        if let Some(error) = answer.error {
            return Err(self.server_error(what, error.get("data").unwrap_or(&error)));
        }
        // A method that returns None (`action_archive`, `action_set_lost`) gives an answer with
        // neither `result` nor `error`: it returned nothing, which is not a malformed answer.
        Ok((answer.result.unwrap_or_default(), date))
    }

    async fn json2<T: DeserializeOwned + Default>(
        &self,
        model: &str,
        method: &str,
        call: &Call,
    ) -> Result<T, OdooError> {
        let what = format!("{model}.{method}");
        let mut body = call.params.clone();
        if let Some(ids) = &call.ids {
            body.insert("ids".into(), json!(ids));
        }
        let request = self
            .http
            .post(format!("{}/json/2/{model}/{method}", self.base))
            .bearer_auth(self.settings.secret.expose())
            .header("X-Odoo-Database", &self.settings.database)
            .json(&body);
        let response = self.send(request, &what).await?;
        let status = response.status();
        if status.is_success() {
            return read_json(response, &what).await;
        }
        let error: Value = response.json().await.unwrap_or(Value::Null);
        Err(match status.as_u16() {
            401 => OdooError::BadCredentials {
                login: self.settings.login.clone(),
            },
            404 if error["message"]
                .as_str()
                .is_some_and(|m| m.contains("database")) =>
            {
                OdooError::UnknownDatabase {
                    database: self.settings.database.clone(),
                }
            }
            400..=499 if error.get("name").is_some() => self.server_error(&what, &error),
            code => OdooError::Http { status: code, what },
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, OdooError> {
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_error(what, &error))?;
        let status = response.status();
        if status.is_server_error()
            || (status.is_client_error() && !self.is_json(&response))
            || status.is_redirection()
        {
            return Err(OdooError::Http {
                status: status.as_u16(),
                what: what.into(),
            });
        }
        Ok(response)
    }

    fn is_json(&self, response: &reqwest::Response) -> bool {
        response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"))
    }

    fn transport_error(&self, what: &str, error: &reqwest::Error) -> OdooError {
        if error.is_timeout() {
            OdooError::Timeout {
                what: what.into(),
                seconds: self.settings.timeout.as_secs(),
            }
        } else {
            // The URL carries no credentials (checked in `new`), so the error may name it.
            OdooError::Unreachable {
                url: self.base.clone(),
                reason: error_chain(error),
            }
        }
    }

    fn server_error(&self, what: &str, data: &Value) -> OdooError {
        let name = data["name"].as_str().unwrap_or("unknown").to_string();
        let message = data["message"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        match name.as_str() {
            "odoo.exceptions.AccessDenied" => OdooError::BadCredentials {
                login: self.settings.login.clone(),
            },
            "psycopg2.OperationalError" if message.contains("does not exist") => {
                OdooError::UnknownDatabase {
                    database: self.settings.database.clone(),
                }
            }
            "odoo.exceptions.AccessError" => OdooError::AccessRights {
                login: self.settings.login.clone(),
                what: what.into(),
                message,
            },
            _ => OdooError::Server {
                what: what.into(),
                name,
                message,
            },
        }
    }
}

async fn read_json<T: DeserializeOwned>(
    response: reqwest::Response,
    what: &str,
) -> Result<T, OdooError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|error| OdooError::Malformed {
            what: what.into(),
            reason: error_chain(&error),
        })?;
    serde_json::from_slice(&bytes).map_err(|error| OdooError::Malformed {
        what: what.into(),
        reason: format!("{error} ({} bytes)", bytes.len()),
    })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_date_reads_as_the_server_s_clock() {
        assert_eq!(
            http_date("Tue, 01 Dec 2026 22:52:16 GMT").map(|t| t.to_string()),
            Some("2026-12-01T22:52:16Z".to_string())
        );
        assert_eq!(http_date("yesterday"), None);
    }

    /// What an answer without an `error` returned, as a call decodes it.
    fn returned<T: DeserializeOwned + Default>(answer: &str) -> T {
        let answer: Answer<T> = serde_json::from_str(answer).expect("an answer");
        assert!(answer.error.is_none());
        answer.result.unwrap_or_default()
    }

    #[test]
    fn an_answer_without_result_returned_nothing() {
        // As Odoo 18 answers `action_archive` (shared/odoo/tracking/mail.tracking.value.json).
        let nothing = r#"{"jsonrpc": "2.0", "id": 7}"#;
        assert_eq!(returned::<Value>(nothing), Value::Null);
        assert!(returned::<Vec<Box<serde_json::value::RawValue>>>(nothing).is_empty());
        let pair = r#"{"jsonrpc": "2.0", "id": 7, "result": [1, 2]}"#;
        assert_eq!(returned::<Value>(pair), json!([1, 2]));
        let records = returned::<Vec<Box<serde_json::value::RawValue>>>(
            r#"{"jsonrpc": "2.0", "id": 7, "result": [{"id": 1}, {"id": 2, "name": "B"}]}"#,
        );
        assert_eq!(records[1].get(), r#"{"id": 2, "name": "B"}"#);
        assert_eq!(
            returned::<Value>(r#"{"jsonrpc": "2.0", "id": 7, "result": false}"#),
            json!(false)
        );
    }
}
