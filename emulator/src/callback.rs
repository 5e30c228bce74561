//! Upload callbacks (`x-oss-callback` / `x-oss-callback-var` on Complete): the emulator
//! POSTs the rendered body to a loopback URL and relays the JSON answer.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::error::OssError;
use crate::util::uri_encode;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub callback_url: String,
    #[serde(default)]
    pub callback_body: String,
    #[serde(default)]
    pub callback_host: Option<String>,
    #[serde(default)]
    pub callback_body_type: Option<String>,
}

/// Values substituted into the callback body.
pub struct Values<'a> {
    pub bucket: &'a str,
    pub object: &'a str,
    pub etag: &'a str,
    pub size: u64,
    pub mime_type: &'a str,
}

fn bad(msg: &str) -> OssError {
    OssError::invalid_argument(format!("The callback configuration is invalid: {msg}"))
}

/// Decodes the two base64 JSON headers.
pub fn parse(callback: &str, var: Option<&str>) -> Result<(Spec, Vec<(String, String)>), OssError> {
    let raw = B64
        .decode(callback.trim())
        .map_err(|_| bad("x-oss-callback is not base64"))?;
    let spec: Spec = serde_json::from_slice(&raw).map_err(|_| bad("x-oss-callback is not JSON"))?;
    if spec.callback_url.trim().is_empty() {
        return Err(bad("callbackUrl is empty"));
    }
    let mut vars = Vec::new();
    if let Some(v) = var {
        let raw = B64
            .decode(v.trim())
            .map_err(|_| bad("x-oss-callback-var is not base64"))?;
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&raw)
            .map_err(|_| bad("x-oss-callback-var is not a JSON object"))?;
        for (k, v) in map {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            vars.push((k, s));
        }
    }
    Ok((spec, vars))
}

/// Substitutes `${bucket}`, `${object}`, `${etag}`, `${size}`, `${mimeType}` and `${x:var}`.
/// For form bodies the values are URL-encoded.
pub fn render(template: &str, vars: &[(String, String)], v: &Values<'_>, form: bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let name = &after[..j];
        let value = match name {
            "bucket" => Some(v.bucket.to_string()),
            "object" => Some(v.object.to_string()),
            "etag" => Some(v.etag.to_string()),
            "size" => Some(v.size.to_string()),
            "mimeType" => Some(v.mime_type.to_string()),
            n if n.starts_with("x:") => Some(
                vars.iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, val)| val.clone())
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        match value {
            Some(val) if form => out.push_str(&uri_encode(&val, false)),
            Some(val) => out.push_str(&val),
            None => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            }
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

/// (host, port, path) of a loopback http URL.
fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let url = url.split(';').next().unwrap_or("").trim();
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("callback URL {url:?} is not http:// (the emulator only calls loopback http)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, p) = h.split_once(']').ok_or("bad IPv6 literal")?;
        (h.to_string(), p.strip_prefix(':').unwrap_or("80"))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), "80"),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| "bad port in callback URL".to_string())?;
    let loopback = host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost") || host == "::1";
    if !loopback {
        return Err(format!(
            "callback host {host:?} refused: the emulator only calls 127.0.0.1/localhost"
        ));
    }
    let connect_host = if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1".to_string()
    } else {
        host
    };
    Ok((connect_host, port, path.to_string()))
}

/// POSTs the callback and returns the response body (which must be JSON).
pub async fn run(
    spec: &Spec,
    vars: &[(String, String)],
    v: &Values<'_>,
    request_id: &str,
) -> Result<Bytes, String> {
    let (host, port, path) = parse_url(&spec.callback_url)?;
    let body_type = spec
        .callback_body_type
        .clone()
        .unwrap_or_else(|| "application/x-www-form-urlencoded".to_string());
    let form = body_type.starts_with("application/x-www-form-urlencoded");
    let body = render(&spec.callback_body, vars, v, form);
    let host_header = spec
        .callback_host
        .clone()
        .unwrap_or_else(|| format!("{host}:{port}"));
    let fut = async move {
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to callback server failed: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("callback handshake failed: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::post(path)
            .header("host", host_header)
            .header("content-type", body_type)
            .header("content-length", body.len())
            .header("x-oss-request-id", request_id)
            .header("user-agent", "aliyun-oss-callback (oss-emulator)")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad callback request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("callback request failed: {e}"))?;
        let status = resp.status();
        let data = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the callback response failed: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("callback server answered HTTP {}", status.as_u16()));
        }
        if data.len() > (1 << 20) || serde_json::from_slice::<serde_json::Value>(&data).is_err() {
            return Err("Response body is not valid json format.".to_string());
        }
        Ok(data)
    };
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(r) => r,
        Err(_) => Err("callback server did not answer within 5 s".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_vars() {
        let v = Values {
            bucket: "b",
            object: "a b",
            etag: "E",
            size: 3,
            mime_type: "text/plain",
        };
        let vars = vec![("x:who".to_string(), "me".to_string())];
        assert_eq!(
            render(
                r#"{"o":"${object}","s":${size},"w":"${x:who}","z":"${x:none}","k":"${keep}"}"#,
                &vars,
                &v,
                false
            ),
            r#"{"o":"a b","s":3,"w":"me","z":"","k":"${keep}"}"#
        );
        assert_eq!(
            render("object=${object}&m=${mimeType}", &vars, &v, true),
            "object=a%20b&m=text%2Fplain"
        );
    }

    #[test]
    fn only_loopback() {
        assert!(parse_url("http://127.0.0.1:8080/cb").is_ok());
        assert!(parse_url("http://localhost/cb").is_ok());
        assert!(parse_url("http://example.com/cb").is_err());
        assert!(parse_url("https://127.0.0.1/cb").is_err());
    }
}
