//! Shared server state: configuration, credentials, clock skew, fault rules, the
//! request log and the object store.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::auth::CredInfo;
use crate::store::Store;
use crate::util::lock;

pub struct Config {
    pub region: String,
    pub bench: bool,
    /// `http` or `https` (with --tls-cert): the scheme of the listener.
    pub scheme: &'static str,
}

#[derive(Clone)]
pub struct Credential {
    pub secret: String,
    pub token: Option<String>,
    pub expires_at: Option<Instant>,
}

/// Fault action, as sent to `POST /-/faults`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FaultAction {
    Error {
        status: u16,
        code: String,
        #[serde(default)]
        message: Option<String>,
    },
    Reset {
        #[serde(rename = "afterBytes", default)]
        after_bytes: u64,
    },
    Delay {
        ms: u64,
    },
    Stall {
        ms: u64,
    },
    BadCrc,
    /// Flips the first byte of the response body (see download.rs).
    CorruptBody,
}

impl FaultAction {
    pub fn kind(&self) -> &'static str {
        match self {
            FaultAction::Error { .. } => "error",
            FaultAction::Reset { .. } => "reset",
            FaultAction::Delay { .. } => "delay",
            FaultAction::Stall { .. } => "stall",
            FaultAction::BadCrc => "badCrc",
            FaultAction::CorruptBody => "corruptBody",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRuleSpec {
    #[serde(default)]
    pub api: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub part_number: Option<u32>,
    #[serde(default)]
    pub upload_id: Option<String>,
    #[serde(default)]
    pub nth: Option<u64>,
    #[serde(default)]
    pub times: Option<u64>,
    pub action: FaultAction,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultRuleSpec,
    pub seen: u64,
    pub fired: u64,
}

/// What a request looks like to the fault matcher.
pub struct FaultTarget<'a> {
    pub api: &'a str,
    pub key: Option<&'a str>,
    pub part_number: Option<u32>,
    pub upload_id: Option<&'a str>,
}

#[derive(Serialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub api: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub part_number: Option<u32>,
    pub upload_id: Option<String>,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub status: u16,
    pub bytes: u64,
    pub fault: Option<String>,
    /// `HTTP/1.1` or `HTTP/2` (see `server::protocol_name`).
    pub protocol: &'static str,
}

pub const LOG_CAP: usize = 200_000;

pub struct State {
    pub config: Config,
    pub store: Store,
    creds: Mutex<HashMap<String, Credential>>,
    skew_ms: AtomicI64,
    faults: Mutex<Vec<FaultRule>>,
    next_fault_id: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
    seq: AtomicU64,
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// TLS handshakes that failed or timed out (e.g. the client refused the certificate).
    pub tls_handshake_failures: AtomicU64,
}

impl State {
    pub fn new(config: Config, store: Store, creds: HashMap<String, Credential>) -> Self {
        State {
            config,
            store,
            creds: Mutex::new(creds),
            skew_ms: AtomicI64::new(0),
            faults: Mutex::new(Vec::new()),
            next_fault_id: AtomicU64::new(1),
            log: Mutex::new(VecDeque::new()),
            seq: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
        }
    }

    /// The server clock (real time shifted by the configured skew).
    pub fn now(&self) -> SystemTime {
        let skew = self.skew_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        let d = Duration::from_millis(skew.unsigned_abs());
        let shifted = if skew >= 0 {
            now.checked_add(d)
        } else {
            now.checked_sub(d)
        };
        shifted.unwrap_or(now)
    }

    /// Sets the clock skew, clamped to ±100 years (dates must stay printable).
    pub fn set_skew(&self, ms: i64) {
        const LIMIT: i64 = 100 * 366 * 24 * 3600 * 1000;
        self.skew_ms
            .store(ms.clamp(-LIMIT, LIMIT), Ordering::Relaxed);
    }

    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn requests(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    pub fn lookup_cred(&self, ak: &str) -> Option<CredInfo> {
        let creds = lock(&self.creds);
        let c = creds.get(ak)?;
        Some(CredInfo {
            secret: c.secret.clone(),
            token: c.token.clone(),
            expired: c.expires_at.is_some_and(|t| Instant::now() >= t),
        })
    }

    pub fn add_cred(&self, ak: String, c: Credential) {
        lock(&self.creds).insert(ak, c);
    }

    pub fn add_fault(&self, spec: FaultRuleSpec) -> u64 {
        let id = self.next_fault_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.faults).push(FaultRule {
            id,
            spec,
            seen: 0,
            fired: 0,
        });
        id
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub fn list_faults(&self) -> serde_json::Value {
        serde_json::to_value(&*lock(&self.faults)).unwrap_or(serde_json::Value::Null)
    }

    /// Counts this request against every matching rule and returns the action of the
    /// first rule (in installation order) that fires.
    pub fn match_fault(&self, t: &FaultTarget<'_>) -> Option<FaultAction> {
        let mut rules = lock(&self.faults);
        let mut chosen: Option<FaultAction> = None;
        for r in rules.iter_mut() {
            let s = &r.spec;
            if s.api.as_deref().is_some_and(|a| a != t.api)
                || s.key.as_deref().is_some_and(|k| Some(k) != t.key)
                || s.part_number.is_some_and(|p| Some(p) != t.part_number)
                || s.upload_id
                    .as_deref()
                    .is_some_and(|u| Some(u) != t.upload_id)
            {
                continue;
            }
            r.seen += 1;
            let nth = s.nth.unwrap_or(1).max(1);
            let times = s.times.unwrap_or(1);
            let eligible = r.seen >= nth && (times == 0 || r.fired < times);
            if eligible && chosen.is_none() {
                r.fired += 1;
                chosen = Some(s.action.clone());
            }
        }
        chosen
    }

    pub fn push_log(&self, e: LogEntry) {
        let mut log = lock(&self.log);
        if log.len() >= LOG_CAP {
            log.pop_front();
        }
        log.push_back(e);
    }

    pub fn log_json(&self) -> Vec<u8> {
        let log = lock(&self.log);
        let (a, b) = log.as_slices();
        let mut all: Vec<&LogEntry> = Vec::with_capacity(log.len());
        all.extend(a.iter());
        all.extend(b.iter());
        serde_json::to_vec(&all).unwrap_or_else(|_| b"[]".to_vec())
    }

    pub fn clear_log(&self) {
        lock(&self.log).clear();
    }
}
