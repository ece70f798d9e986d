//! The simulated Odoo over HTTP: JSON-RPC (`/jsonrpc`), JSON-2 (`/json/2/<model>/<method>`, when
//! behaving as Odoo 19 or later), `/web/version`, and a control API under `/__fake/` that tests use
//! to change data and inject faults.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use super::crm::{Crm, CrmOptions};
use super::query::{CallError, execute};
use super::workload::{Workers, Workload};

/// A fault to inject into object calls (`execute_kw` and JSON-2 calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 500 with an HTML body, like a proxy in front of a dead worker.
    ServerError,
    /// HTTP 200 with the JSON body cut in half.
    Truncated,
    /// The credentials are refused (as after a password change).
    AuthFailure,
    /// A `search_read` page comes back empty although records remain.
    DropPage,
    /// The answer is delayed by `delay_ms`.
    Latency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// Object calls to let through before the fault starts.
    #[serde(default)]
    pub after: u64,
    /// How many calls it affects.
    #[serde(default = "one")]
    pub count: u64,
    #[serde(default)]
    pub delay_ms: u64,
    /// Only calls of this method count (and `after` counts only them); every call when `None`.
    #[serde(default)]
    pub only: Option<FaultedMethod>,
}

/// A method a fault may be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultedMethod {
    Search,
    SearchRead,
    SearchCount,
    Read,
    Write,
}

impl FaultedMethod {
    fn name(self) -> &'static str {
        match self {
            FaultedMethod::Search => "search",
            FaultedMethod::SearchRead => "search_read",
            FaultedMethod::SearchCount => "search_count",
            FaultedMethod::Read => "read",
            FaultedMethod::Write => "write",
        }
    }
}

fn one() -> u64 {
    1
}

/// A running simulated Odoo's state.
pub struct FakeOdoo {
    crm: Mutex<Crm>,
    faults: Mutex<Vec<Fault>>,
    object_calls: Mutex<u64>,
    calls_by_method: Mutex<std::collections::HashMap<String, u64>>,
    /// Object calls by model and method.
    calls_by_model: Mutex<std::collections::HashMap<(String, String), u64>>,
    workers: Workers,
}

impl FakeOdoo {
    pub fn new(options: CrmOptions) -> Arc<FakeOdoo> {
        Arc::new(FakeOdoo {
            crm: Mutex::new(Crm::generate(options)),
            faults: Mutex::new(Vec::new()),
            object_calls: Mutex::new(0),
            calls_by_method: Mutex::new(std::collections::HashMap::new()),
            calls_by_model: Mutex::new(std::collections::HashMap::new()),
            workers: Workers::default(),
        })
    }

    /// The CRM, for tests and the demo's own changes.
    pub fn crm(&self) -> MutexGuard<'_, Crm> {
        self.crm
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn inject(&self, fault: Fault) {
        // `after` counts from now: calls of its method, or every call.
        let calls = match fault.only {
            Some(method) => self.calls_of(method),
            None => *self.calls(),
        };
        let mut fault = fault;
        fault.after += calls;
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    /// Settings for pipelog's client to sign in to this server (at `url`) as its admin: plain
    /// JSON-RPC or JSON-2 by version, no retries, a generous timeout.
    pub fn admin_settings(&self, url: &str) -> crate::sync::odoo::OdooSettings {
        let crm = self.crm();
        let account = crm.accounts.iter().find(|a| a.uid == super::crm::ADMIN_UID);
        let secret = account
            .map(|a| a.api_key.clone().unwrap_or_else(|| a.password.clone()))
            .unwrap_or_default();
        crate::sync::odoo::OdooSettings {
            url: url.to_string(),
            database: crm.options.database.clone(),
            login: "admin".into(),
            secret: crate::sync::odoo::Secret::new(secret),
            protocol: crate::sync::odoo::ProtocolChoice::Auto,
            timeout: Duration::from_secs(120),
            retries: 0,
            retry_backoff: Duration::from_millis(100),
        }
    }

    /// Answers take as long as `workload` says, with its number of workers (`None`: as fast as
    /// the simulator computes them, the default).
    pub fn set_workload(&self, workload: Option<Workload>) {
        self.workers.set(workload);
    }

    /// The most object calls served at once since the last `reset_peak_calls`.
    pub fn peak_calls_at_once(&self) -> u64 {
        self.workers.peak()
    }

    pub fn reset_peak_calls(&self) {
        self.workers.reset_peak();
    }

    pub fn clear_faults(&self) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Object calls answered so far (searches, reads, writes: each `execute_kw` or JSON-2 call).
    pub fn object_calls(&self) -> u64 {
        *self.calls()
    }

    /// Calls of `method` answered so far (what a fault limited to it counts as `after`).
    pub fn calls_of(&self, method: FaultedMethod) -> u64 {
        self.calls_by_method
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(method.name())
            .copied()
            .unwrap_or(0)
    }

    /// How many times `method` of `model` was called.
    pub fn calls_to(&self, model: &str, method: &str) -> u64 {
        self.calls_by_model
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(model.to_string(), method.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every object call answered so far, by model and method.
    pub fn calls_by_model(&self) -> std::collections::BTreeMap<(String, String), u64> {
        self.calls_by_model
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(key, count)| (key.clone(), *count))
            .collect()
    }

    fn calls(&self) -> MutexGuard<'_, u64> {
        self.object_calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one call of `method` (of `model`: empty for a sign-in) and returns the fault that
    /// applies to it, if any.
    fn next_fault(&self, model: &str, method: &str) -> Option<Fault> {
        *self
            .calls_by_model
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((model.to_string(), method.to_string()))
            .or_default() += 1;
        let call = {
            let mut calls = self.calls();
            *calls += 1;
            *calls
        };
        let of_method = {
            let mut by_method = self
                .calls_by_method
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let count = by_method.entry(method.to_string()).or_default();
            *count += 1;
            *count
        };
        let faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        faults
            .iter()
            .find(|f| {
                let index = match f.only {
                    None => call,
                    Some(only) if only.name() == method => of_method,
                    Some(_) => return false,
                };
                index > f.after && index <= f.after + f.count
            })
            .copied()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let clock = self.clone();
        Router::new()
            .route("/jsonrpc", post(jsonrpc))
            .route("/json/2/{model}/{method}", post(json2))
            .route("/web/version", get(web_version).post(web_version))
            .route("/odoo/crm/{id}", get(lead_page))
            .route("/__fake/mutate", post(mutate))
            .route("/__fake/faults", post(add_fault).delete(clear_faults))
            // Odoo's answers carry the server's clock (whole seconds), as any HTTP server's do.
            .layer(axum::middleware::map_response(
                move |mut response: Response| {
                    let now = clock.crm().now();
                    async move {
                        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
                            .timestamp_to_rfc9110_string(&now)
                            .ok()
                            .and_then(|d| axum::http::HeaderValue::from_str(&d).ok());
                        if let Some(value) = date {
                            response.headers_mut().insert(header::DATE, value);
                        }
                        response
                    }
                },
            ))
            .with_state(self.clone())
    }
}

/// Serves the simulated Odoo on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    fake: Arc<FakeOdoo>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, fake.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Odoo leaves `result` out when the method returned None (recorded on 18.0).
fn rpc_result(id: &Value, result: Value) -> Response {
    if result.is_null() {
        return axum::Json(json!({"jsonrpc": "2.0", "id": id})).into_response();
    }
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

fn rpc_error(id: &Value, error: &CallError) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": 200,
        "message": "Odoo Server Error",
        "data": {"name": error.name, "message": error.message, "arguments": [error.message], "context": {}},
    }}))
    .into_response()
}

fn version(crm: &Crm) -> Value {
    let major = crm.options.version;
    json!({"server_version": format!("{major}.0"), "server_version_info": [major, 0, 0, "final", 0, ""],
           "server_serie": format!("{major}.0"), "protocol_version": 1})
}

async fn web_version(State(fake): State<Arc<FakeOdoo>>) -> Response {
    let crm = fake.crm();
    let info = version(&crm);
    axum::Json(
        json!({"version_info": info["server_version_info"], "version": info["server_version"]}),
    )
    .into_response()
}

/// What a person following pipelog's link to a deal sees: the simulated Odoo has no web client,
/// so a plain page that names the record.
async fn lead_page(State(fake): State<Arc<FakeOdoo>>, Path(id): Path<u64>) -> Response {
    let crm = fake.crm();
    let name = crm
        .tables
        .get("crm.lead")
        .and_then(|leads| leads.get(&id))
        .and_then(|lead| lead.get("name"))
        .and_then(Value::as_str)
        .map(|name| {
            name.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        });
    let (status, text) = match name {
        Some(name) => (StatusCode::OK, format!("crm.lead {id}: {name}")),
        None => (
            StatusCode::NOT_FOUND,
            format!("crm.lead {id} does not exist"),
        ),
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<!doctype html><title>Simulated Odoo</title><h1>Simulated Odoo</h1><p>{text}</p>"),
    )
        .into_response()
}

/// Applies a fault that changes the whole HTTP answer; `None` lets the call through.
async fn faulted_response(
    fault: Option<Fault>,
    body: impl FnOnce() -> Response,
) -> Option<Response> {
    let fault = fault?;
    match fault.kind {
        FaultKind::ServerError => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html><body>500 Internal Server Error</body></html>",
            )
                .into_response(),
        ),
        FaultKind::Truncated => {
            let full = axum::body::to_bytes(body().into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            let cut = full.slice(..full.len() / 2);
            Some(([(header::CONTENT_TYPE, "application/json")], cut).into_response())
        }
        FaultKind::Latency => {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
            None
        }
        FaultKind::AuthFailure | FaultKind::DropPage => None,
    }
}

async fn jsonrpc(State(fake): State<Arc<FakeOdoo>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "Invalid JSON data").into_response();
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or_default();
    let service = params
        .get("service")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let method = params
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let args: Vec<Value> = params
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let database = fake.crm().options.database.clone();
    let unknown_database = |db: &str| CallError {
        name: "psycopg2.OperationalError",
        message: format!(
            "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"{db}\" does not exist\n"
        ),
    };
    match (service, method) {
        ("common", "version") => rpc_result(&id, version(&fake.crm())),
        ("common", "login" | "authenticate") => {
            let db = args.first().and_then(Value::as_str).unwrap_or_default();
            if db != database {
                return rpc_error(&id, &unknown_database(db));
            }
            let login = args.get(1).and_then(Value::as_str).unwrap_or_default();
            let secret = args.get(2).and_then(Value::as_str).unwrap_or_default();
            // Sign-ins count as calls, so that an injected refusal applies to them too.
            let refused = fake
                .next_fault("", method)
                .is_some_and(|f| f.kind == FaultKind::AuthFailure);
            let crm = fake.crm();
            let account = crm.accounts.iter().find(|a| {
                a.login == login && (a.password == secret || a.api_key.as_deref() == Some(secret))
            });
            match account {
                Some(account) if !refused => rpc_result(&id, json!(account.uid)),
                _ => rpc_result(&id, json!(false)),
            }
        }
        ("object", "execute_kw" | "execute") => {
            let call = fake.workers.begin().await;
            let fault = fake.next_fault(
                args.get(3).and_then(Value::as_str).unwrap_or_default(),
                args.get(4).and_then(Value::as_str).unwrap_or_default(),
            );
            let db = args
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let uid = args.get(1).and_then(Value::as_u64).unwrap_or(0);
            let secret = args
                .get(2)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let model = args
                .get(3)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let object_method = args
                .get(4)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let call_args: Vec<Value> = args
                .get(5)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let kwargs: Map<String, Value> = args
                .get(6)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let answer = {
                let mut crm = fake.crm();
                if db != database {
                    Err(unknown_database(&db))
                } else if fault.is_some_and(|f| f.kind == FaultKind::AuthFailure)
                    || !crm.accounts.iter().any(|a| {
                        a.uid == uid
                            && (a.password == secret
                                || a.api_key.as_deref() == Some(secret.as_str()))
                    })
                {
                    Err(CallError::access_denied())
                } else {
                    execute(&mut crm, uid, &model, &object_method, &call_args, &kwargs).map(
                        |result| {
                            if fault.is_some_and(|f| f.kind == FaultKind::DropPage)
                                && object_method == "search_read"
                            {
                                json!([])
                            } else {
                                result
                            }
                        },
                    )
                }
            };
            call.work_on(answer.as_ref().ok()).await;
            let respond = || match &answer {
                Ok(result) => rpc_result(&id, result.clone()),
                Err(error) => rpc_error(&id, error),
            };
            match faulted_response(fault, respond).await {
                Some(response) => response,
                None => respond(),
            }
        }
        _ => rpc_error(
            &id,
            &CallError {
                name: "builtins.KeyError",
                message: format!("{service}.{method}"),
            },
        ),
    }
}

fn json2_error(status: StatusCode, error: &CallError) -> Response {
    (status, axum::Json(json!({"name": error.name, "message": error.message, "arguments": [error.message, status.as_u16()], "context": {}, "debug": ""}))).into_response()
}

async fn json2(
    State(fake): State<Arc<FakeOdoo>>,
    Path((model, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if fake.crm().options.version < 19 {
        // Odoo 18 has no JSON-2: the path falls into the web client's /json route and redirects.
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/web/login")]).into_response();
    }
    let call = fake.workers.begin().await;
    let fault = fake.next_fault(&model, &method);
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("bearer ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
        .unwrap_or_default()
        .to_string();
    let database = headers
        .get("x-odoo-database")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer = {
        let mut crm = fake.crm();
        let account = crm
            .accounts
            .iter()
            .find(|a| a.api_key.as_deref() == Some(key.as_str()))
            .map(|a| a.uid);
        if database
            .as_deref()
            .is_some_and(|db| db != crm.options.database)
        {
            Err((
                StatusCode::NOT_FOUND,
                CallError {
                    name: "werkzeug.exceptions.NotFound",
                    message: "database not found".into(),
                },
            ))
        } else {
            match account {
                Some(uid) if !fault.is_some_and(|f| f.kind == FaultKind::AuthFailure) => {
                    let mut params: Map<String, Value> =
                        serde_json::from_slice(&body).unwrap_or_default();
                    let args: Vec<Value> = params
                        .remove("ids")
                        .map(|ids| vec![ids])
                        .unwrap_or_default();
                    execute(&mut crm, uid, &model, &method, &args, &params)
                        .map(|result| {
                            if fault.is_some_and(|f| f.kind == FaultKind::DropPage)
                                && method == "search_read"
                            {
                                json!([])
                            } else {
                                result
                            }
                        })
                        .map_err(|error| (status_of(&error), error))
                }
                _ => Err((
                    StatusCode::UNAUTHORIZED,
                    CallError {
                        name: "werkzeug.exceptions.Unauthorized",
                        message: "Invalid apikey".into(),
                    },
                )),
            }
        }
    };
    call.work_on(answer.as_ref().ok()).await;
    let respond = || match &answer {
        Ok(result) => axum::Json(result.clone()).into_response(),
        Err((status, error)) => json2_error(*status, error),
    };
    match faulted_response(fault, respond).await {
        Some(response) => response,
        None => respond(),
    }
}

fn status_of(error: &CallError) -> StatusCode {
    match error.name {
        "odoo.exceptions.AccessDenied" => StatusCode::UNAUTHORIZED,
        "odoo.exceptions.AccessError" => StatusCode::FORBIDDEN,
        "odoo.exceptions.MissingError" => StatusCode::NOT_FOUND,
        "odoo.exceptions.UserError" | "builtins.ValueError" | "builtins.AttributeError" => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Deserialize)]
struct MutateRequest {
    count: usize,
}

async fn mutate(
    State(fake): State<Arc<FakeOdoo>>,
    axum::Json(request): axum::Json<MutateRequest>,
) -> Response {
    let changes = fake.crm().mutate(request.count);
    axum::Json(json!({"changes": changes})).into_response()
}

async fn add_fault(
    State(fake): State<Arc<FakeOdoo>>,
    axum::Json(fault): axum::Json<Fault>,
) -> Response {
    fake.inject(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(fake): State<Arc<FakeOdoo>>) -> Response {
    fake.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}
