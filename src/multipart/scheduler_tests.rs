//! Unit tests of the upload scheduler ([`super::upload::run`]) against a scripted [`MultipartStore`],
//! with tokio's paused clock: each part takes a set (virtual) time, so the order of events is exact.
//! What the wire does (signing, CRC headers, the emulator's rules) is tested in `__test__/` instead.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::mpsc;

use super::store::MultipartStore;
use super::upload::{run, Event, Resume, Upload};
use crate::client::{CallOptions, CancelFlag, CompleteFailure, PartOutcome, PartRequest};
use crate::crc64;
use crate::error::{Error, NetworkKind, ServerError};
use crate::http::Response;
use crate::retry::{self, Backoff, Idempotency, RetryConfig};
use crate::source::Source;
use crate::xml::InitiateResult;

const PART: u64 = 102_400;

fn server(status: u16, code: &str) -> Error {
    Error::Server(Box::new(ServerError {
        status,
        code: code.into(),
        message: "scripted".into(),
        ..Default::default()
    }))
}

fn response(headers: Vec<(&str, String)>) -> Response {
    Response {
        status: 200,
        status_text: "OK".into(),
        headers: headers
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
        body: Bytes::new(),
        url: String::new(),
        rt_ms: 0,
        remote: None,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A store that answers from a script and logs every call.
struct Fake {
    data: Bytes,
    cancel: CancelFlag,
    /// Calls in the order they were made: `initiate`, `part 3`, `complete 1,2,3`, `head`, …
    log: Mutex<Vec<String>>,
    /// How long each part's attempt takes (default 10 ms).
    delays: HashMap<u32, Duration>,
    /// Errors a part's attempts return, one per attempt, before it succeeds.
    failures: Mutex<HashMap<u32, VecDeque<Error>>>,
    attempts: Mutex<BTreeMap<u32, u32>>,
    /// When set, each part's attempts run under this policy, as [`crate::http::Http::retrying`] runs them.
    retry: Option<RetryConfig>,
    /// The parts ListParts reports (number, ETag), two per page.
    listed: Vec<(u32, String)>,
    /// Complete's answer when it fails.
    complete_failure: Mutex<Option<CompleteFailure>>,
    /// The CRC-64 HEAD reports for the object (`None`: 404).
    head_crc: Option<u64>,
    /// The parts Complete was given.
    completed: Mutex<Vec<(u32, String)>>,
}

impl Fake {
    fn new(data: &Bytes) -> Fake {
        Fake {
            data: data.clone(),
            cancel: CancelFlag::default(),
            log: Mutex::new(Vec::new()),
            delays: HashMap::new(),
            failures: Mutex::new(HashMap::new()),
            attempts: Mutex::new(BTreeMap::new()),
            retry: None,
            listed: Vec::new(),
            complete_failure: Mutex::new(None),
            head_crc: None,
            completed: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, call: String) {
        lock(&self.log).push(call);
    }

    fn log(&self) -> Vec<String> {
        lock(&self.log).clone()
    }

    fn fail_part(&self, number: u32, errors: Vec<Error>) {
        lock(&self.failures).insert(number, errors.into());
    }

    fn attempts(&self) -> BTreeMap<u32, u32> {
        lock(&self.attempts).clone()
    }

    /// One try of a part: takes its time, then adds its bytes to `sent` and answers, or fails as scripted
    /// (taking its bytes back out, as the client does).
    async fn part_attempt(
        &self,
        part: &PartRequest<'_>,
        sent: &Option<Arc<AtomicU64>>,
    ) -> Result<PartOutcome, Error> {
        let n = part.number;
        *lock(&self.attempts).entry(n).or_default() += 1;
        let delay = self
            .delays
            .get(&n)
            .copied()
            .unwrap_or(Duration::from_millis(10));
        tokio::time::sleep(delay).await;
        let len = part.end - part.start;
        let failure = lock(&self.failures)
            .get_mut(&n)
            .and_then(VecDeque::pop_front);
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(s) = sent {
            s.fetch_add(len, Ordering::Relaxed);
        }
        let etag = format!("\"E{n}\"");
        Ok(PartOutcome {
            etag: etag.clone(),
            crc: part.source.crc_of(part.start, part.end).await?,
            res: response(vec![("etag", etag)]),
        })
    }
}

impl MultipartStore for Fake {
    fn cancel_flag(&self) -> &CancelFlag {
        &self.cancel
    }

    fn bucket(&self) -> Option<String> {
        Some("bkt".into())
    }

    async fn put(
        &self,
        _key: &str,
        source: &Source,
        _opts: &CallOptions,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<Response, Error> {
        self.note("put".into());
        if let Some(s) = sent {
            s.fetch_add(source.len(), Ordering::Relaxed);
        }
        Ok(response(vec![]))
    }

    async fn initiate(
        &self,
        key: &str,
        _opts: &CallOptions,
    ) -> Result<(InitiateResult, Response), Error> {
        self.note("initiate".into());
        let init = InitiateResult {
            bucket: "bkt".into(),
            key: key.into(),
            upload_id: "U1".into(),
        };
        Ok((init, response(vec![])))
    }

    async fn upload_part(
        &self,
        part: &PartRequest<'_>,
        sent: Option<Arc<AtomicU64>>,
    ) -> Result<PartOutcome, Error> {
        self.note(format!("part {}", part.number));
        let Some(config) = self.retry else {
            return self.part_attempt(part, &sent).await;
        };
        let mut backoff = Backoff::with_jitter(config.backoff, Box::new(|| 0.5));
        retry::retry(
            &config,
            &mut backoff,
            Idempotency::Idempotent,
            |_| false,
            |_, _, _| {},
            || self.part_attempt(part, &sent),
        )
        .await
    }

    async fn list_parts(
        &self,
        _key: &str,
        upload_id: &str,
        query: Vec<(String, String)>,
        _opts: &CallOptions,
    ) -> Result<(serde_json::Value, Response), Error> {
        let marker: u32 = query
            .iter()
            .find(|(k, _)| k == "part-number-marker")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        self.note(format!("list {upload_id} after {marker}"));
        let rest: Vec<_> = self.listed.iter().filter(|(n, _)| *n > marker).collect();
        let page: Vec<_> = rest.iter().take(2).collect();
        let parts: Vec<_> = page
            .iter()
            .map(|(n, e)| json!({"PartNumber": n.to_string(), "ETag": e}))
            .collect();
        let next = page.last().map(|(n, _)| n.to_string()).unwrap_or_default();
        let data = json!({
            "Part": parts,
            "IsTruncated": if rest.len() > 2 { "true" } else { "false" },
            "NextPartNumberMarker": next,
        });
        Ok((data, response(vec![])))
    }

    async fn complete(
        &self,
        _key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        _opts: &CallOptions,
    ) -> Result<Response, CompleteFailure> {
        let numbers: Vec<String> = parts.iter().map(|(n, _)| n.to_string()).collect();
        self.note(format!("complete {upload_id} {}", numbers.join(",")));
        *lock(&self.completed) = parts.to_vec();
        if let Some(f) = lock(&self.complete_failure).take() {
            return Err(f);
        }
        let crc = crc64::crc64(&self.data);
        Ok(response(vec![("x-oss-hash-crc64ecma", crc.to_string())]))
    }

    async fn abort(
        &self,
        _key: &str,
        upload_id: &str,
        _opts: &CallOptions,
    ) -> Result<Response, Error> {
        self.note(format!("abort {upload_id}"));
        Ok(response(vec![]))
    }

    async fn head(&self, _key: &str, _opts: &CallOptions) -> Result<Response, Error> {
        self.note("head".into());
        let Some(crc) = self.head_crc else {
            return Err(server(404, "NoSuchKey"));
        };
        Ok(response(vec![
            ("content-length", self.data.len().to_string()),
            ("x-oss-hash-crc64ecma", crc.to_string()),
            ("x-fake", "head".into()),
        ]))
    }
}

/// `len` bytes of a repeating pattern.
fn data(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn upload(data: &Bytes, parallel: usize) -> Upload {
    Upload {
        key: "k".into(),
        source: Source::Memory(data.clone()),
        path: None,
        part_size: Some(PART as f64),
        parallel,
        options: CallOptions::default(),
        complete_headers: http::HeaderMap::new(),
        resume: None,
        checkpoint_file: None,
        byte_progress: false,
        part_events: true,
        cancel: Arc::new(CancelFlag::default()),
    }
}

/// What the caller saw, in order, and the upload's error if it failed. Every acknowledgement is `true`.
struct Seen {
    events: Vec<String>,
    error: Option<Error>,
    last_response: Option<Response>,
}

async fn drive(store: Arc<Fake>, upload: Upload) -> Seen {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(store, upload, tx));
    let mut seen = Seen {
        events: Vec::new(),
        error: None,
        last_response: None,
    };
    while let Some(ev) = rx.recv().await {
        let shown = match ev {
            Event::Warning(m) => format!("warning {m}"),
            Event::Bytes { loaded, total } => format!("bytes {loaded}/{total}"),
            Event::Put { res } => {
                seen.last_response = Some(res);
                "put".into()
            }
            Event::Initiated {
                upload_id,
                num_parts,
                ack,
                ..
            } => {
                let _ = ack.send(true);
                format!("initiated {upload_id} {num_parts}")
            }
            Event::Resumed {
                upload_id, done, ..
            } => {
                let done: Vec<String> = done.iter().map(|(n, e)| format!("{n}={e}")).collect();
                format!("resumed {upload_id} [{}]", done.join(" "))
            }
            Event::Part {
                number, etag, ack, ..
            } => {
                let _ = ack.send(true);
                format!("part {number} {etag}")
            }
            Event::Completed { res } => {
                seen.last_response = Some(res);
                "completed".into()
            }
            Event::Failed(e) => {
                let shown = format!("failed {e}");
                seen.error = Some(e);
                shown
            }
        };
        seen.events.push(shown);
    }
    task.await.expect("the upload task ran to its end");
    seen
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn parts_and_byte_progress_are_reported_in_the_order_they_finish() {
    let bytes = data(250_000); // parts of 102400, 102400, 45200
    let mut fake = Fake::new(&bytes);
    fake.delays = HashMap::from([
        (1, Duration::from_millis(130)),
        (2, Duration::from_millis(40)),
        (3, Duration::from_millis(40)),
    ]);
    let fake = Arc::new(fake);
    let mut up = upload(&bytes, 2);
    up.byte_progress = true;
    let seen = drive(fake.clone(), up).await;
    // Part 2 ends at 40 ms, part 3 (on the same worker) at 80 ms, a byte tick at 100 ms, part 1 at 130 ms.
    assert_eq!(
        seen.events,
        strings(&[
            "initiated U1 3",
            "part 2 \"E2\"",
            "part 3 \"E3\"",
            "bytes 147600/250000",
            "part 1 \"E1\"",
            "bytes 250000/250000",
            "completed",
        ])
    );
    assert_eq!(
        fake.log(),
        strings(&[
            "initiate",
            "part 1",
            "part 2",
            "part 3",
            "complete U1 1,2,3"
        ])
    );
    assert_eq!(
        *lock(&fake.completed),
        vec![
            (1, "\"E1\"".to_string()),
            (2, "\"E2\"".to_string()),
            (3, "\"E3\"".to_string())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_part_stops_new_parts_and_the_parts_in_flight_settle_first() {
    let bytes = data(5 * PART as usize);
    let mut fake = Fake::new(&bytes);
    fake.delays = HashMap::from([
        (1, Duration::from_millis(30)),
        (2, Duration::from_millis(10)),
        (3, Duration::from_millis(50)),
    ]);
    fake.fail_part(2, vec![server(400, "InvalidArgument")]);
    let fake = Arc::new(fake);
    let seen = drive(fake.clone(), upload(&bytes, 3)).await;
    // Part 2 fails at 10 ms; parts 1 and 3, already sent, are reported; 4 and 5 never start.
    assert_eq!(
        seen.events[..3],
        strings(&["initiated U1 5", "part 1 \"E1\"", "part 3 \"E3\""])
    );
    assert_eq!(seen.events.len(), 4, "{:?}", seen.events);
    let err = seen.error.expect("the upload failed");
    assert_eq!(err.part_number(), Some(2));
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        fake.log(),
        strings(&["initiate", "part 1", "part 2", "part 3"])
    );
}

async fn cancelled_midway(client_wide: bool) {
    let bytes = data(4 * PART as usize);
    let mut fake = Fake::new(&bytes);
    fake.delays = (1..=4).map(|n| (n, Duration::from_millis(100))).collect();
    let fake = Arc::new(fake);
    let up = upload(&bytes, 2);
    let own = up.cancel.clone();
    let store = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if client_wide {
            store.cancel.cancel();
        } else {
            own.cancel();
        }
    });
    let seen = drive(fake.clone(), up).await;
    assert_eq!(seen.events[0], "initiated U1 4");
    assert!(
        matches!(seen.error, Some(Error::Cancelled)),
        "{:?}",
        seen.events
    );
    assert_eq!(
        seen.events.len(),
        2,
        "no part is reported: {:?}",
        seen.events
    );
    // The two parts in flight were dropped at 50 ms; no other part started, nothing was completed.
    assert_eq!(fake.log(), strings(&["initiate", "part 1", "part 2"]));
}

#[tokio::test(start_paused = true)]
async fn cancel_drops_the_parts_in_flight_and_starts_no_other() {
    cancelled_midway(false).await;
}

#[tokio::test(start_paused = true)]
async fn the_client_wide_cancel_stops_the_upload_too() {
    cancelled_midway(true).await;
}

fn retrying_fake(bytes: &Bytes) -> Fake {
    let mut fake = Fake::new(bytes);
    fake.retry = Some(RetryConfig::with_max_retries(3));
    fake
}

#[tokio::test(start_paused = true)]
async fn a_part_failing_twice_then_succeeding_is_sent_three_times_and_reported_once() {
    let bytes = data(3 * PART as usize);
    let fake = retrying_fake(&bytes);
    let timeout = Error::Network {
        kind: NetworkKind::ResponseTimeout,
        message: "scripted".into(),
    };
    fake.fail_part(2, vec![server(503, "ServiceUnavailable"), timeout]);
    let fake = Arc::new(fake);
    let mut up = upload(&bytes, 1);
    up.byte_progress = true;
    let seen = drive(fake.clone(), up).await;
    let (bytes_seen, others): (Vec<_>, Vec<_>) =
        seen.events.iter().partition(|e| e.starts_with("bytes "));
    assert_eq!(
        others,
        [
            "initiated U1 3",
            "part 1 \"E1\"",
            "part 2 \"E2\"",
            "part 3 \"E3\"",
            "completed"
        ]
    );
    assert_eq!(fake.attempts(), BTreeMap::from([(1, 1), (2, 3), (3, 1)]));
    // The bytes of the failed tries are not counted: progress only grows and ends at the total.
    let loaded: Vec<u64> = bytes_seen
        .iter()
        .map(|e| {
            e["bytes ".len()..]
                .split('/')
                .next()
                .unwrap_or("x")
                .parse()
                .expect("a number")
        })
        .collect();
    assert!(loaded.windows(2).all(|w| w[0] < w[1]), "{loaded:?}");
    assert_eq!(loaded.last(), Some(&(3 * PART)));
}

#[tokio::test(start_paused = true)]
async fn a_part_failing_every_retry_fails_the_upload_with_its_last_error() {
    let bytes = data(3 * PART as usize);
    let fake = retrying_fake(&bytes);
    fake.fail_part(
        2,
        (0..4).map(|_| server(503, "ServiceUnavailable")).collect(),
    );
    let fake = Arc::new(fake);
    let seen = drive(fake.clone(), upload(&bytes, 1)).await;
    let err = seen.error.expect("the upload failed");
    assert_eq!((err.part_number(), err.status()), (Some(2), Some(503)));
    // One try and three retries of part 2; part 3 never starts, Complete is never sent.
    assert_eq!(fake.attempts(), BTreeMap::from([(1, 1), (2, 4)]));
    assert_eq!(fake.log(), strings(&["initiate", "part 1", "part 2"]));
}

#[tokio::test(start_paused = true)]
async fn a_resume_sends_only_the_parts_the_server_does_not_hold() {
    let bytes = data(400_000); // 4 parts
    let mut fake = Fake::new(&bytes);
    // The server holds part 1 (its ETag in other case) and a different part 3; part 5 is not ours.
    fake.listed = vec![
        (1, "\"e1\"".into()),
        (3, "\"OTHER\"".into()),
        (5, "\"E5\"".into()),
    ];
    let fake = Arc::new(fake);
    let mut up = upload(&bytes, 1);
    up.resume = Some(Resume {
        upload_id: "U0".into(),
        file_size: 400_000,
        part_size: PART,
        // Old ali-oss checkpoints may list a part twice.
        done: vec![
            (1, "\"E1\"".into()),
            (3, "\"E3\"".into()),
            (1, "\"E1\"".into()),
        ],
    });
    let seen = drive(fake.clone(), up).await;
    assert_eq!(
        seen.events,
        strings(&[
            "resumed U0 [1=\"E1\"]",
            "part 2 \"E2\"",
            "part 3 \"E3\"",
            "part 4 \"E4\"",
            "completed",
        ])
    );
    // Two pages of ListParts, no Initiate, parts 2 to 4 only, then Complete of all four.
    assert_eq!(
        fake.log(),
        strings(&[
            "list U0 after 0",
            "list U0 after 3",
            "part 2",
            "part 3",
            "part 4",
            "complete U0 1,2,3,4",
        ])
    );
    assert_eq!(
        fake.attempts().keys().copied().collect::<Vec<_>>(),
        [2, 3, 4]
    );
}

fn lost_complete(fake: &Fake) {
    *lock(&fake.complete_failure) = Some(CompleteFailure {
        first: Some(Error::Network {
            kind: NetworkKind::ResponseTimeout,
            message: "the first try timed out".into(),
        }),
        last: server(404, "NoSuchUpload"),
    });
}

#[tokio::test(start_paused = true)]
async fn complete_answering_no_such_upload_succeeds_when_head_finds_the_very_object() {
    let bytes = data(2 * PART as usize);
    let mut fake = Fake::new(&bytes);
    fake.head_crc = Some(crc64::crc64(&bytes));
    lost_complete(&fake);
    let fake = Arc::new(fake);
    let seen = drive(fake.clone(), upload(&bytes, 2)).await;
    assert_eq!(seen.events.last().map(String::as_str), Some("completed"));
    let res = seen.last_response.expect("a response");
    assert_eq!(
        res.header("x-fake"),
        Some("head"),
        "HEAD's answer is the result"
    );
    assert_eq!(fake.log()[3..], strings(&["complete U1 1,2", "head"]));
}

#[tokio::test(start_paused = true)]
async fn complete_answering_no_such_upload_fails_with_the_first_error_when_the_object_differs() {
    let bytes = data(2 * PART as usize);
    let mut fake = Fake::new(&bytes);
    fake.head_crc = Some(crc64::crc64(&bytes) ^ 1);
    lost_complete(&fake);
    let fake = Arc::new(fake);
    let seen = drive(fake.clone(), upload(&bytes, 2)).await;
    let err = seen.error.expect("the upload failed");
    assert!(
        matches!(
            err.root(),
            Error::Network {
                kind: NetworkKind::ResponseTimeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.log()[3..], strings(&["complete U1 1,2", "head"]));
}

#[tokio::test(start_paused = true)]
async fn a_small_file_is_one_put() {
    let bytes = data(PART as usize - 1);
    let fake = Arc::new(Fake::new(&bytes));
    let seen = drive(fake.clone(), upload(&bytes, 2)).await;
    assert_eq!(seen.events, strings(&["put"]));
    assert_eq!(fake.log(), strings(&["put"]));
}
