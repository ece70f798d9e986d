//! The dashboard's files, embedded in the binary at build time (no CDN, no runtime path), served
//! with an ETag from their SHA-256 so browsers revalidate cheaply and never run stale code, and
//! gzip-compressed for browsers that accept it (compressed once, on first use).

use std::collections::HashMap;
use std::io::Write;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// Every text asset, gzipped.
static GZIPPED: LazyLock<HashMap<String, Vec<u8>>> = LazyLock::new(|| {
    Assets::iter()
        .filter(|path| !content_type(path).starts_with("image/png"))
        .filter_map(|path| {
            let file = Assets::get(&path)?;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&file.data).ok()?;
            Some((path.into_owned(), encoder.finish().ok()?))
        })
        .collect()
});

/// Whether `Accept-Encoding` allows gzip (and does not refuse it with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let hash: String = file
        .metadata
        .sha256_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let gzipped = GZIPPED.get(path).filter(|_| accepts_gzip(headers));
    // Each representation has its own strong tag.
    let etag = match gzipped {
        Some(_) => format!("\"{}-gzip\"", &hash[..32]),
        None => format!("\"{}\"", &hash[..32]),
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(body) = gzipped {
        (
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            body.clone(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[utoipa::path(
    get, path = "/", tag = "dashboard",
    responses((status = 200, description = "the dashboard (a page of the embedded web app)", body = String, content_type = "text/html")),
)]
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

#[utoipa::path(
    get, path = "/assets/{path}", tag = "dashboard",
    params(("path" = String, Path, description = "a file of the embedded web app")),
    responses(
        (status = 200, description = "the file (ETag, gzip when accepted)", body = String),
        (status = 304, description = "not modified"),
        (status = 404, description = "no such file", body = crate::api::answers::ErrorBody),
    ),
)]
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_page_loads_only_local_scripts_and_styles() {
        let index = Assets::get("index.html").expect("embedded");
        let html = String::from_utf8_lossy(&index.data);
        assert!(
            !html.contains("<script>"),
            "no inline script: the CSP forbids it"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external resources"
        );
        assert!(!html.contains("style="), "no inline styles");
        for file in Assets::iter() {
            let data = Assets::get(&file).expect("embedded");
            let text = String::from_utf8_lossy(&data.data);
            assert!(
                !text.contains("cdn") && !text.contains("googleapis"),
                "{file} reaches out to the network"
            );
            assert!(
                !text.contains("innerHTML"),
                "{file}: text goes in textContent, never innerHTML"
            );
        }
    }

    #[test]
    fn every_module_a_script_imports_is_embedded() {
        let mut imports = 0;
        for file in Assets::iter().filter(|f| f.ends_with(".js")) {
            let data = Assets::get(&file).expect("embedded");
            let text = String::from_utf8_lossy(&data.data);
            let folder = std::path::Path::new(file.as_ref())
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split(" from ")
                    .nth(1)
                    .and_then(|rest| rest.split('"').nth(1))
                    .unwrap_or_else(|| panic!("{file}: an import without a path: {line}"));
                let mut path = folder.clone();
                for part in target.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            path.pop();
                        }
                        name => path.push(name),
                    }
                }
                let path = path.to_string_lossy().replace('\\', "/");
                assert!(
                    Assets::get(&path).is_some(),
                    "{file} imports {target}: {path} is not embedded"
                );
                assert_eq!(content_type(&path), "text/javascript; charset=utf-8");
                imports += 1;
            }
        }
        assert!(
            imports >= 10,
            "the page is split into modules ({imports} imports)"
        );
    }

    #[test]
    fn assets_are_gzipped_for_browsers_that_accept_it() {
        use std::io::Read;
        let plain = serve("js/pages/dashboard.js", &HeaderMap::new());
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        let gzipped = serve("js/pages/dashboard.js", &headers);
        assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gzipped.headers()[header::VARY], "accept-encoding");
        let compressed = &GZIPPED["js/pages/dashboard.js"];
        let original = Assets::get("js/pages/dashboard.js").expect("embedded").data;
        assert!(
            compressed.len() * 2 < original.len(),
            "gzip at least halves a page script"
        );
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut unpacked)
            .expect("valid gzip");
        assert_eq!(unpacked, original.as_ref());
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        let refused = serve("js/pages/dashboard.js", &headers);
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn a_matching_etag_answers_304() {
        let first = serve("app.js", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve("app.js", &headers).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            serve("nope.js", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }
}
