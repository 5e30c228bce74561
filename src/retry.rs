//! The retry policy: which failures earn another try, how long to wait before it, and when to stop.
//!
//! Kept apart from sending ([`crate::http`]) so that it can be tested on its own with tokio's paused
//! clock and a fixed source of jitter: every wait here is a `tokio::time` sleep and every deadline a
//! `tokio::time::Instant`, so a test advances time instead of waiting for it.
//!
//! Policy, in short:
//! - a failure is retried only when a second try could succeed ([`Error::is_retryable`]) and the request
//!   allows it ([`Idempotency`]);
//! - at most `max_retries` retries, and none that would start after `retry_timeout` has passed since the
//!   first try;
//! - waits grow exponentially from `initial` by `factor`, capped at `max`, each scaled by a random factor
//!   in [0.5, 1.5) so that parts failing together do not retry together.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, NetworkKind};

/// How waits between tries grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// The wait before the first retry (before jitter).
    pub initial: Duration,
    /// No wait is longer than this, jitter included.
    pub max: Duration,
    /// Each wait is this many times the one before (before jitter).
    pub factor: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            factor: 2.0,
        }
    }
}

/// When to give up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first try (ali-oss's `retryMax`); 0 never retries.
    pub max_retries: u32,
    /// No retry starts once this much time has passed since the first try began (default 10 min: long
    /// enough for every try of a part at the default 60 s timeout, short enough to end a hopeless loop).
    pub retry_timeout: Duration,
    pub backoff: BackoffConfig,
}

impl RetryConfig {
    /// The default policy with `max_retries` retries.
    pub fn with_max_retries(max_retries: u32) -> Self {
        RetryConfig {
            max_retries,
            retry_timeout: Duration::from_secs(600),
            backoff: BackoffConfig::default(),
        }
    }
}

/// A source of numbers in [0, 1) for jitter; injected so that tests are deterministic.
pub type Jitter = Box<dyn FnMut() -> f64 + Send>;

/// The waits of one request's retries.
pub struct Backoff {
    config: BackoffConfig,
    retries: u32,
    jitter: Jitter,
}

impl Backoff {
    /// Backoff with jitter from a small generator seeded by the standard library's per-process random keys.
    pub fn new(config: BackoffConfig) -> Self {
        Self::with_jitter(config, random_jitter())
    }

    pub fn with_jitter(config: BackoffConfig, jitter: Jitter) -> Self {
        Backoff {
            config,
            retries: 0,
            jitter,
        }
    }

    /// The wait before the next retry.
    pub fn next_wait(&mut self) -> Duration {
        let exp = self.config.factor.powi(self.retries.min(30) as i32);
        self.retries = self.retries.saturating_add(1);
        let step = (self.config.initial.as_secs_f64() * exp).min(self.config.max.as_secs_f64());
        let scale = 0.5 + (self.jitter)().clamp(0.0, 1.0);
        Duration::from_secs_f64((step * scale).min(self.config.max.as_secs_f64()))
    }
}

/// Whether sending a request twice has the same effect as sending it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, HEAD, PUT of an object or a part, DELETE, and requests whose outcome the caller verifies when a
    /// retry finds the work already done (CompleteMultipartUpload: a `NoSuchUpload` after a retry is checked
    /// against the object by HEAD).
    Idempotent,
    /// The server may have acted on a request whose answer was lost: retried only when the failure shows it
    /// did not (the server answered with a retryable error, or no connection was made). InitiateMultipartUpload:
    /// a retry after a lost answer would leave the first upload behind, orphaned.
    NotIdempotent,
}

/// Whether `err` may be retried for a request of the given idempotency.
pub fn may_retry(err: &Error, idempotency: Idempotency) -> bool {
    if !err.is_retryable() {
        return false;
    }
    match idempotency {
        Idempotency::Idempotent => true,
        Idempotency::NotIdempotent => matches!(
            err.root(),
            Error::Server(_)
                | Error::Network {
                    kind: NetworkKind::Connect | NetworkKind::ConnectTimeout,
                    ..
                }
        ),
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy gives up; returns the last error.
///
/// `recover` sees every failure first: when it returns true (it fixed something, e.g. a skewed clock), the
/// next try starts at once without using up a retry. It is expected to return true at most a few times.
/// `on_retry` is told of each retry (number, wait, error), for the debug log.
pub async fn retry<T, F, Fut>(
    config: &RetryConfig,
    backoff: &mut Backoff,
    idempotency: Idempotency,
    mut recover: impl FnMut(&Error) -> bool,
    mut on_retry: impl FnMut(u32, Duration, &Error),
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    let mut retries = 0u32;
    loop {
        let err = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if recover(&err) {
            continue;
        }
        if retries >= config.max_retries || !may_retry(&err, idempotency) {
            return Err(err);
        }
        let wait = backoff.next_wait();
        if started.elapsed() + wait > config.retry_timeout {
            return Err(err);
        }
        retries += 1;
        on_retry(retries, wait, &err);
        tokio::time::sleep(wait).await;
    }
}

/// A xorshift generator seeded from `RandomState` (random per process); good enough to spread retries.
fn random_jitter() -> Jitter {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    let mut state = hasher.finish() | 1;
    Box::new(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServerError;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn fixed(v: f64) -> Jitter {
        Box::new(move || v)
    }

    fn server(status: u16, code: &str) -> Error {
        Error::Server(Box::new(ServerError {
            status,
            code: code.to_string(),
            ..ServerError::default()
        }))
    }

    fn network(kind: NetworkKind) -> Error {
        Error::Network {
            kind,
            message: "x".into(),
        }
    }

    #[test]
    fn waits_grow_by_the_factor_and_are_capped() {
        let mut b = Backoff::with_jitter(BackoffConfig::default(), fixed(0.5));
        let waits: Vec<u128> = (0..10).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(
            waits,
            [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000, 10_000]
        );
    }

    #[test]
    fn jitter_scales_each_wait_between_half_and_one_and_a_half() {
        let mut low = Backoff::with_jitter(BackoffConfig::default(), fixed(0.0));
        let mut high = Backoff::with_jitter(BackoffConfig::default(), fixed(0.999_999));
        assert_eq!(low.next_wait(), Duration::from_millis(100));
        let h = high.next_wait().as_millis();
        assert!((299..=300).contains(&h), "{h}");
        // The cap holds with jitter too.
        let mut capped = Backoff::with_jitter(
            BackoffConfig {
                initial: Duration::from_secs(8),
                ..BackoffConfig::default()
            },
            fixed(0.999),
        );
        assert_eq!(capped.next_wait(), Duration::from_secs(10));
    }

    #[test]
    fn random_jitter_stays_in_range_and_varies() {
        let mut j = random_jitter();
        let xs: Vec<f64> = (0..1000).map(|_| j()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let distinct = xs
            .iter()
            .map(|x| (x * 10.0) as u32)
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(distinct.len(), 10, "all ten deciles are hit");
    }

    #[test]
    fn idempotency_decides_what_a_lost_answer_allows() {
        let timeout = network(NetworkKind::ResponseTimeout);
        let reset = network(NetworkKind::Request);
        let connect = network(NetworkKind::ConnectTimeout);
        let refused = network(NetworkKind::Connect);
        let busy = server(503, "ServiceUnavailable");
        for e in [&timeout, &reset, &connect, &refused, &busy] {
            assert!(may_retry(e, Idempotency::Idempotent));
        }
        assert!(may_retry(&refused, Idempotency::NotIdempotent));
        assert!(!may_retry(&timeout, Idempotency::NotIdempotent));
        assert!(!may_retry(&reset, Idempotency::NotIdempotent));
        assert!(may_retry(&connect, Idempotency::NotIdempotent));
        assert!(may_retry(&busy, Idempotency::NotIdempotent));
        // Never retried, whatever the request.
        assert!(!may_retry(
            &server(403, "SignatureDoesNotMatch"),
            Idempotency::Idempotent
        ));
        assert!(!may_retry(
            &network(NetworkKind::Tls),
            Idempotency::Idempotent
        ));
    }

    /// Runs `retry` with attempts that fail with the given errors in turn, then succeed.
    async fn run(
        config: RetryConfig,
        idempotency: Idempotency,
        failures: Vec<Error>,
    ) -> (Result<u32, Error>, u32, Vec<Duration>) {
        let tries = Arc::new(AtomicU32::new(0));
        let mut backoff = Backoff::with_jitter(config.backoff, fixed(0.5));
        let mut waits = Vec::new();
        let t = tries.clone();
        let out = retry(
            &config,
            &mut backoff,
            idempotency,
            |_| false,
            |_, wait, _| waits.push(wait),
            || {
                let n = t.fetch_add(1, Ordering::SeqCst);
                let next = failures.get(n as usize).cloned();
                async move {
                    match next {
                        Some(e) => Err(e),
                        None => Ok(n),
                    }
                }
            },
        )
        .await;
        (out, tries.load(Ordering::SeqCst), waits)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_with_growing_waits() {
        let started = Instant::now();
        let failures = vec![server(500, "InternalError"), network(NetworkKind::Request)];
        let (out, tries, waits) = run(
            RetryConfig::with_max_retries(3),
            Idempotency::Idempotent,
            failures,
        )
        .await;
        assert_eq!(out.ok(), Some(2));
        assert_eq!(tries, 3);
        assert_eq!(
            waits,
            [Duration::from_millis(200), Duration::from_millis(400)]
        );
        // Paused time: the sleeps advanced the clock by exactly their sum.
        assert_eq!(started.elapsed(), Duration::from_millis(600));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries_with_the_last_error() {
        let failures = vec![
            server(500, "InternalError"),
            server(502, "BadGateway"),
            server(503, "ServiceUnavailable"),
        ];
        let (out, tries, _) = run(
            RetryConfig::with_max_retries(2),
            Idempotency::Idempotent,
            failures,
        )
        .await;
        assert_eq!(tries, 3);
        assert_eq!(out.err().and_then(|e| e.status()), Some(503));
        let (out, tries, waits) = run(
            RetryConfig::with_max_retries(0),
            Idempotency::Idempotent,
            vec![server(500, "InternalError")],
        )
        .await;
        assert_eq!((tries, waits.len()), (1, 0));
        assert!(out.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_starts_after_the_retry_timeout() {
        let config = RetryConfig {
            retry_timeout: Duration::from_millis(1000),
            ..RetryConfig::with_max_retries(10)
        };
        let failures = (0..10).map(|_| server(503, "ServiceUnavailable")).collect();
        let (out, tries, waits) = run(config, Idempotency::Idempotent, failures).await;
        // 200 + 400 = 600 ms fits; the next wait (800 ms) would end after 1 s.
        assert_eq!(
            waits,
            [Duration::from_millis(200), Duration::from_millis(400)]
        );
        assert_eq!(tries, 3);
        assert!(out.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_cannot_succeed_are_not_retried() {
        let (out, tries, _) = run(
            RetryConfig::with_max_retries(3),
            Idempotency::Idempotent,
            vec![server(403, "AccessDenied")],
        )
        .await;
        assert_eq!(tries, 1);
        assert_eq!(out.err().and_then(|e| e.status()), Some(403));
        let (_, tries, _) = run(
            RetryConfig::with_max_retries(3),
            Idempotency::NotIdempotent,
            vec![network(NetworkKind::ResponseTimeout)],
        )
        .await;
        assert_eq!(
            tries, 1,
            "a lost answer to a non-idempotent request is final"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_recovered_failure_retries_at_once_without_using_a_retry() {
        let config = RetryConfig::with_max_retries(0);
        let mut backoff = Backoff::with_jitter(config.backoff, fixed(0.5));
        let tries = AtomicU32::new(0);
        let mut recovered = 0;
        let started = Instant::now();
        let out = retry(
            &config,
            &mut backoff,
            Idempotency::Idempotent,
            |e| {
                let skew = matches!(e.root(), Error::Server(s) if s.code == "RequestTimeTooSkewed");
                recovered += u32::from(skew);
                skew && recovered == 1
            },
            |_, _, _| {},
            || {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(server(403, "RequestTimeTooSkewed"))
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(out.ok(), Some(1));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
