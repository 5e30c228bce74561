//! The credentials requests are signed with, refreshed the way ali-oss's `refreshSTSToken` does, and the
//! clock they are signed at, corrected when the server says the local clock is off.
//!
//! Kept apart from [`crate::http`] so that sending a request is one concern and what it is signed with is
//! another; tokio's clock throughout, so the refresh interval is tested with paused time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::debug;
use crate::error::Error;
use crate::sign::Credentials;

/// Where fresh STS credentials come from (ali-oss's `refreshSTSToken`).
pub trait CredentialsSource: Send + Sync {
    fn refresh(&self) -> Pin<Box<dyn Future<Output = Result<Credentials, Error>> + Send + '_>>;
}

/// The current credentials and, for STS, how and when to refresh them.
pub struct CredentialStore {
    credentials: RwLock<Credentials>,
    refresher: RwLock<Option<Arc<dyn CredentialsSource>>>,
    /// STS credentials older than this are refreshed before the next request.
    interval: Duration,
    refreshed_at: Mutex<Instant>,
    /// Held while credentials are being refreshed: concurrent requests wait for the one refresh.
    refreshing: tokio::sync::Mutex<()>,
}

impl CredentialStore {
    pub fn new(initial: Credentials, interval: Duration) -> Self {
        CredentialStore {
            credentials: RwLock::new(initial),
            refresher: RwLock::new(None),
            interval,
            refreshed_at: Mutex::new(Instant::now()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Replaces the credentials used from the next request on (STS refresh).
    pub fn set(&self, creds: Credentials) {
        if let Ok(mut c) = self.credentials.write() {
            *c = creds;
        }
    }

    pub fn current(&self) -> Credentials {
        match self.credentials.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs ali-oss's `refreshSTSToken`: STS credentials older than the interval are refreshed before
    /// the next request.
    pub fn set_refresher(&self, source: Arc<dyn CredentialsSource>) {
        if let Ok(mut r) = self.refresher.write() {
            *r = Some(source);
        }
    }

    fn stale(&self) -> bool {
        let at = *self.refreshed_at.lock().unwrap_or_else(|p| p.into_inner());
        at.elapsed() >= self.interval
    }

    /// The credentials to sign with, refreshed first when they are STS credentials past their interval.
    /// Exactly one refresh runs at a time; requests that need one meanwhile wait for it and use its result.
    pub async fn fresh(&self) -> Result<Credentials, Error> {
        let source = self.refresher.read().ok().and_then(|r| r.clone());
        let Some(source) = source else {
            return Ok(self.current());
        };
        if self.current().security_token.is_none() || !self.stale() {
            return Ok(self.current());
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if self.stale() {
            debug!("refreshing STS credentials");
            let fresh = source.refresh().await?;
            self.set(fresh);
            *self.refreshed_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        Ok(self.current())
    }
}

/// The time requests are signed at: the local clock plus what the server said about it.
#[derive(Default)]
pub struct Clock {
    /// Server clock minus local clock, in ms, learnt from a `RequestTimeTooSkewed` answer.
    offset_ms: AtomicI64,
}

impl Clock {
    /// The local clock, corrected by what the server said about it.
    pub fn now(&self) -> SystemTime {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        if offset >= 0 {
            now + Duration::from_millis(offset as u64)
        } else {
            now - Duration::from_millis(offset.unsigned_abs())
        }
    }

    /// Learns the server's clock from a `RequestTimeTooSkewed` answer; true when a retry can now succeed.
    pub fn correct(&self, e: &Error) -> bool {
        let Error::Server(s) = e.root() else {
            return false;
        };
        let (true, Some(server)) = (s.code == "RequestTimeTooSkewed", s.server_date) else {
            return false;
        };
        let local = SystemTime::now();
        let offset = match server.duration_since(local) {
            Ok(ahead) => ahead.as_millis() as i64,
            Err(behind) => -(behind.duration().as_millis() as i64),
        };
        self.offset_ms.store(offset, Ordering::Relaxed);
        debug!("the local clock is off by {offset} ms from the server's; signing with the server's time");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServerError;
    use std::sync::atomic::AtomicU32;

    /// Hands out `sts-1`, `sts-2`, … taking 10 ms each.
    struct Counting(AtomicU32);

    impl CredentialsSource for Counting {
        fn refresh(&self) -> Pin<Box<dyn Future<Output = Result<Credentials, Error>> + Send + '_>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Credentials::new("ak", "sk", Some(format!("sts-{n}"))))
            })
        }
    }

    fn sts_store() -> (Arc<CredentialStore>, Arc<Counting>) {
        let store = Arc::new(CredentialStore::new(
            Credentials::new("ak", "sk", Some("sts-0".into())),
            Duration::from_secs(300),
        ));
        let source = Arc::new(Counting(AtomicU32::new(0)));
        store.set_refresher(source.clone());
        (store, source)
    }

    async fn token(store: &CredentialStore) -> String {
        let c = store.fresh().await.expect("credentials");
        c.security_token.unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn sts_credentials_are_refreshed_once_their_interval_has_passed() {
        let (store, source) = sts_store();
        assert_eq!(token(&store).await, "sts-0");
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(token(&store).await, "sts-0");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(token(&store).await, "sts-1");
        assert_eq!(token(&store).await, "sts-1");
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_need_a_refresh_together_share_one() {
        let (store, source) = sts_store();
        tokio::time::advance(Duration::from_secs(301)).await;
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { token(&store).await })
            })
            .collect();
        for w in waiting {
            assert_eq!(w.await.expect("task"), "sts-1");
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn long_term_keys_are_never_refreshed() {
        let store = CredentialStore::new(Credentials::new("ak", "sk", None), Duration::ZERO);
        let source = Arc::new(Counting(AtomicU32::new(0)));
        store.set_refresher(source.clone());
        tokio::time::advance(Duration::from_secs(1000)).await;
        assert_eq!(
            store.fresh().await.expect("credentials").security_token,
            None
        );
        assert_eq!(source.0.load(Ordering::SeqCst), 0);
    }

    fn skewed(code: &str, server_date: Option<SystemTime>) -> Error {
        Error::Server(Box::new(ServerError {
            status: 403,
            code: code.into(),
            server_date,
            ..Default::default()
        }))
    }

    #[test]
    fn the_clock_follows_the_server_after_request_time_too_skewed() {
        let clock = Clock::default();
        let ahead = SystemTime::now() + Duration::from_secs(3600);
        assert!(!clock.correct(&skewed("AccessDenied", Some(ahead))));
        assert!(!clock.correct(&skewed("RequestTimeTooSkewed", None)));
        let before = clock.now();
        assert!(clock.correct(&skewed("RequestTimeTooSkewed", Some(ahead)).in_part(3)));
        let off = clock
            .now()
            .duration_since(before)
            .expect("the corrected clock is ahead");
        assert!(off >= Duration::from_secs(3599), "{off:?}");
        let behind = SystemTime::now() - Duration::from_secs(600);
        assert!(clock.correct(&skewed("RequestTimeTooSkewed", Some(behind))));
        assert!(clock.now() < SystemTime::now() - Duration::from_secs(599));
    }
}
