//! The unsigned control API under `/-/` (loopback peers only): fault injection, request
//! log, clock skew, runtime credentials, raw object bytes and stats.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::request::Parts;
use http::{Method, Response};
use serde::Deserialize;
use serde_json::json;

use crate::http_util::{builder, file_body, finish, json_response, Body, BodyReader};
use crate::request::Conn;
use crate::state::{Credential, FaultRuleSpec, State};
use crate::util::{percent_decode, request_id};

fn reply(state: &State, status: u16, v: serde_json::Value) -> Response<Body> {
    json_response(
        status,
        &request_id(),
        state.now(),
        serde_json::to_vec(&v).unwrap_or_default(),
    )
}

fn bad(state: &State, msg: impl Into<String>) -> Response<Body> {
    reply(state, 400, json!({ "error": msg.into() }))
}

async fn json_body<T: for<'de> Deserialize<'de>>(body: &mut BodyReader) -> Result<T, String> {
    let raw = body
        .read_small(1 << 20)
        .await
        .map_err(|e| format!("reading the body failed: {e:?}"))?;
    let raw: &[u8] = if raw.iter().all(|b| b.is_ascii_whitespace()) {
        b"{}"
    } else {
        &raw
    };
    serde_json::from_slice(raw).map_err(|e| format!("invalid JSON body: {e}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpireSel {
    #[serde(default)]
    upload_id: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

/// `POST /-/synthetic {bucket, key, size}` (bench mode): an object with generated content.
#[derive(Deserialize)]
struct Synthetic {
    bucket: String,
    key: String,
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Clock {
    skew_ms: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewCred {
    access_key_id: String,
    access_key_secret: String,
    #[serde(default)]
    security_token: Option<String>,
    #[serde(default)]
    expires_in_ms: Option<u64>,
}

pub async fn handle(
    state: &State,
    conn: &Conn,
    parts: Parts,
    mut body: BodyReader,
    path: &str,
) -> Response<Body> {
    if !conn.peer.ip().is_loopback() && !conn.peer.ip().to_canonical().is_loopback() {
        return reply(
            state,
            403,
            json!({ "error": "the control API answers loopback peers only" }),
        );
    }
    let m = parts.method.clone();
    let rest = &path[3..];
    match (&m, rest) {
        (&Method::POST, "faults") => match json_body::<FaultRuleSpec>(&mut body).await {
            Ok(spec) => {
                if let crate::state::FaultAction::Error { status, .. } = &spec.action {
                    if !(100..=999).contains(status) {
                        return bad(state, "error.status must be an HTTP status code");
                    }
                }
                let id = state.add_fault(spec);
                reply(state, 200, json!({ "id": id }))
            }
            Err(e) => bad(state, e),
        },
        (&Method::GET, "faults") => reply(state, 200, state.list_faults()),
        (&Method::DELETE, "faults") => {
            state.clear_faults();
            reply(state, 200, json!({ "ok": true }))
        }
        (&Method::POST, "uploads/expire") => match json_body::<ExpireSel>(&mut body).await {
            Ok(sel) => {
                let gone = state
                    .store
                    .expire_uploads(sel.upload_id.as_deref(), sel.key.as_deref());
                for u in &gone {
                    state.store.discard_upload(u);
                }
                reply(state, 200, json!({ "expired": gone.len() }))
            }
            Err(e) => bad(state, e),
        },
        (&Method::GET, "log") => json_response(200, &request_id(), state.now(), state.log_json()),
        (&Method::DELETE, "log") => {
            state.clear_log();
            reply(state, 200, json!({ "ok": true }))
        }
        (&Method::POST, "reset") => {
            state.clear_faults();
            state.clear_log();
            state.set_skew(0);
            reply(state, 200, json!({ "ok": true }))
        }
        (&Method::POST, "clock") => match json_body::<Clock>(&mut body).await {
            Ok(c) => {
                state.set_skew(c.skew_ms);
                reply(state, 200, json!({ "skewMs": c.skew_ms }))
            }
            Err(e) => bad(state, e),
        },
        (&Method::POST, "credentials") => match json_body::<NewCred>(&mut body).await {
            Ok(c) => {
                if c.access_key_id.is_empty() || c.access_key_secret.is_empty() {
                    return bad(state, "accessKeyId and accessKeySecret must be non-empty");
                }
                state.add_cred(
                    c.access_key_id,
                    Credential {
                        secret: c.access_key_secret,
                        token: c.security_token,
                        expires_at: c
                            .expires_in_ms
                            .and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms))),
                    },
                );
                reply(state, 200, json!({ "ok": true }))
            }
            Err(e) => bad(state, e),
        },
        (&Method::GET, "stats") => {
            let (objects, uploads) = state.store.counts();
            reply(
                state,
                200,
                json!({
                    "objects": objects,
                    "uploads": uploads,
                    "requests": state.requests(),
                    "connections": state.connections.load(Ordering::Relaxed),
                    "tlsHandshakeFailures": state.tls_handshake_failures.load(Ordering::Relaxed),
                }),
            )
        }
        (&Method::GET, r) if r.starts_with("objects/") => raw_object(state, &r["objects/".len()..]),
        (&Method::POST, "synthetic") => match json_body::<Synthetic>(&mut body).await {
            Ok(s) => match crate::download::create(state, &s.bucket, &s.key, s.size) {
                Ok(o) => reply(
                    state,
                    200,
                    json!({ "etag": format!("\"{}\"", o.etag), "crc64": o.crc64.to_string(), "size": o.size }),
                ),
                Err(e) => bad(state, e),
            },
            Err(e) => bad(state, e),
        },
        _ => reply(
            state,
            404,
            json!({ "error": format!("no control endpoint {} {}", m, path) }),
        ),
    }
}

fn raw_object(state: &State, rest: &str) -> Response<Body> {
    let Some((b, k)) = rest.split_once('/') else {
        return reply(
            state,
            404,
            json!({ "error": "use /-/objects/<bucket>/<key>" }),
        );
    };
    let (Some(bucket), Some(key)) = (percent_decode(b, false), percent_decode(k, false)) else {
        return bad(state, "bad percent-encoding");
    };
    let obj = match state.store.get_object(&bucket, &key) {
        Ok(o) => o,
        Err(_) => return reply(state, 404, json!({ "error": "no such object" })),
    };
    let Some(path) = obj.data.clone() else {
        return reply(
            state,
            404,
            json!({ "error": "bench mode keeps no object data" }),
        );
    };
    let Ok(file) = std::fs::File::open(&path) else {
        return reply(state, 404, json!({ "error": "no such object" }));
    };
    let len = obj.size;
    finish(
        builder(200, &request_id(), state.now())
            .header("content-type", "application/octet-stream")
            .header("content-length", len)
            .header("x-oss-hash-crc64ecma", obj.crc64.to_string()),
        file_body(file, 0, len),
    )
}
