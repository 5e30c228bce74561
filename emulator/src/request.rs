//! What an operation handler gets: the request ([`Req`]) with its [`Route`], and the connection it came
//! on ([`Conn`]). Kept apart from `server` so that the handlers (`ops`, `control`) do not depend on the
//! server that calls them.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Method, Response};
use tokio::sync::Notify;

use crate::error::OssError;
use crate::http_util::{error_response, Body};
use crate::state::State;

/// Per-connection context.
pub struct Conn {
    pub peer: SocketAddr,
    kill: Notify,
}

impl Conn {
    pub fn new(peer: SocketAddr) -> Self {
        Conn {
            peer,
            kill: Notify::new(),
        }
    }

    /// Resolves once [`Conn::kill`] has been called.
    pub async fn killed(&self) {
        self.kill.notified().await
    }

    /// Drops the connection abortively (RST) as soon as the handler yields.
    pub fn kill(&self) {
        self.kill.notify_one();
    }
}

/// Where a request is addressed.
#[derive(Debug, PartialEq)]
pub struct Route {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub virtual_hosted: bool,
}

/// Everything an OSS operation handler needs about its request.
pub struct Req {
    pub state: Arc<State>,
    pub id: String,
    pub host: String,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub route: Route,
    pub api: &'static str,
}

impl Req {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn bucket(&self) -> &str {
        self.route.bucket.as_deref().unwrap_or("")
    }
    pub fn key(&self) -> &str {
        self.route.key.as_deref().unwrap_or("")
    }
    pub fn host_id(&self) -> String {
        host_id(
            &self.host,
            self.route.bucket.as_deref(),
            &self.state.config.region,
        )
    }
    pub fn error(&self, e: &OssError) -> Response<Body> {
        error_response(
            e,
            &self.id,
            &self.host_id(),
            self.state.now(),
            self.method == Method::HEAD,
        )
    }
}

pub fn host_id(host: &str, bucket: Option<&str>, region: &str) -> String {
    if !host.is_empty() {
        return host.to_string();
    }
    match bucket {
        Some(b) => format!("{b}.oss-{region}.aliyuncs.com"),
        None => format!("oss-{region}.aliyuncs.com"),
    }
}
