//! oss-emulator: a strict local Alibaba Cloud OSS-compatible HTTP server for tests and
//! benchmarks. See emulator/README.md.

mod auth;
#[cfg(test)]
mod auth_tests;
mod callback;
mod control;
mod crc;
mod download;
mod error;
mod http_util;
mod object_ops;
mod ops;
mod request;
mod server;
mod state;
mod store;
mod tls;
mod util;
mod xml;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;

use crate::state::{Config, Credential, State};
use crate::store::{valid_bucket_name, Store};

/// A strict local OSS-compatible server (V1/V4 signatures, multipart, faults).
///
/// On start it prints exactly one line on stdout:
/// `oss-emulator listening on http://IP:PORT` (`https://` with --tls-cert). Control API under `/-/` (loopback
/// only); see emulator/README.md.
#[derive(Parser, Debug)]
#[command(name = "oss-emulator", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// Where objects and parts are stored. Default: a fresh temporary directory,
    /// removed on exit (also on SIGINT/SIGTERM). A given directory is kept, and its
    /// buckets and completed objects are loaded again on the next start.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Long-term credentials AK:SK (repeatable). Default: test-ak:test-sk.
    #[arg(long = "credentials", value_name = "AK:SK")]
    credentials: Vec<String>,

    /// Temporary credentials AK:SK:TOKEN (repeatable): requests with AK must carry a
    /// signed `x-oss-security-token: TOKEN`.
    #[arg(long = "sts-token", value_name = "AK:SK:TOKEN")]
    sts_token: Vec<String>,

    /// A bucket that exists from the start (repeatable). Default: examplebucket.
    #[arg(long = "bucket", value_name = "NAME")]
    bucket: Vec<String>,

    /// Region for V4 signatures (an `oss-` prefix is ignored).
    #[arg(long, value_name = "REGION", default_value = "cn-hangzhou")]
    region: String,

    /// Measuring mode: keep only sizes and CRC-64 of bodies (nothing written), derive
    /// ETags from the CRC instead of MD5, and ALSO accept unsigned requests. Signed
    /// requests are still verified. Not for correctness tests.
    #[arg(long)]
    bench: bool,

    /// Exit (cleaning up) when standard input reaches end of file, so a test harness
    /// that dies cannot leave the server behind.
    #[arg(long)]
    exit_on_stdin_eof: bool,

    /// Tokio worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,

    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    /// Everything (OSS API and control API) is then on the one HTTPS port.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Speak HTTP/1.1 only: no HTTP/2 prior knowledge, and with TLS offer only
    /// `http/1.1` in ALPN (by default `h2` is offered first).
    #[arg(long)]
    http1_only: bool,
}

fn fail(msg: String) -> ! {
    eprintln!("oss-emulator: {msg}");
    std::process::exit(2);
}

fn cleanup_and_exit(tmp: &Option<PathBuf>, code: i32) -> ! {
    if let Some(d) = tmp {
        let _ = std::fs::remove_dir_all(d);
    }
    std::process::exit(code);
}

fn main() {
    let args = Args::parse();
    let mut creds: HashMap<String, Credential> = HashMap::new();
    let cred_args = if args.credentials.is_empty() {
        vec!["test-ak:test-sk".to_string()]
    } else {
        args.credentials.clone()
    };
    for c in &cred_args {
        let Some((ak, sk)) = c.split_once(':') else {
            fail(format!("--credentials {c:?}: expected AK:SK"));
        };
        if ak.is_empty() || sk.is_empty() {
            fail(format!("--credentials {c:?}: expected AK:SK"));
        }
        creds.insert(
            ak.to_string(),
            Credential {
                secret: sk.to_string(),
                token: None,
                expires_at: None,
            },
        );
    }
    for c in &args.sts_token {
        let mut it = c.splitn(3, ':');
        let (Some(ak), Some(sk), Some(token)) = (it.next(), it.next(), it.next()) else {
            fail(format!("--sts-token {c:?}: expected AK:SK:TOKEN"));
        };
        if ak.is_empty() || sk.is_empty() || token.is_empty() {
            fail(format!("--sts-token {c:?}: expected AK:SK:TOKEN"));
        }
        creds.insert(
            ak.to_string(),
            Credential {
                secret: sk.to_string(),
                token: Some(token.to_string()),
                expires_at: None,
            },
        );
    }
    let buckets = if args.bucket.is_empty() {
        vec!["examplebucket".to_string()]
    } else {
        args.bucket.clone()
    };
    for b in &buckets {
        if !valid_bucket_name(b) {
            fail(format!(
                "--bucket {b:?}: 3-63 lowercase letters, digits or hyphens"
            ));
        }
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => match tls::server_config(c, k, args.http1_only) {
            Ok(cfg) => Some(cfg),
            Err(e) => fail(e),
        },
        _ => None,
    };
    let region = args
        .region
        .strip_prefix("oss-")
        .unwrap_or(&args.region)
        .to_string();

    // Data directory: none in bench mode, a temp dir by default.
    let (root, tmp_dir) = if args.bench {
        (None, None)
    } else if let Some(d) = &args.data_dir {
        (Some(d.clone()), None)
    } else {
        match tempfile::Builder::new().prefix("oss-emulator-").tempdir() {
            Ok(t) => {
                let p = t.keep();
                (Some(p.clone()), Some(p))
            }
            Err(e) => fail(format!("cannot create a temporary directory: {e}")),
        }
    };
    let store = match Store::open(root) {
        Ok(s) => s,
        Err(e) => fail(format!("cannot open the data directory: {e}")),
    };
    let now = std::time::SystemTime::now();
    for b in &buckets {
        if let Err(e) = store.create_bucket(b, now) {
            fail(format!("cannot create bucket {b}: {e}"));
        }
    }
    let state = Arc::new(State::new(
        Config {
            region,
            bench: args.bench,
            scheme: if tls.is_some() { "https" } else { "http" },
        },
        store,
        creds,
    ));

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.workers {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => fail(format!("cannot start the runtime: {e}")),
    };
    let tmp_for_signals = tmp_dir.clone();
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                cleanup_and_exit_msg(&tmp_dir, format!("cannot listen on {}: {e}", args.listen))
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => cleanup_and_exit_msg(&tmp_dir, format!("no local address: {e}")),
        };
        {
            let mut out = std::io::stdout().lock();
            let scheme = state.config.scheme;
            let _ = writeln!(out, "oss-emulator listening on {scheme}://{addr}");
            let _ = out.flush();
        }
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            cleanup_and_exit(&tmp_for_signals, 0);
        });
        if args.exit_on_stdin_eof {
            let tmp = tmp_dir.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 256];
                let mut stdin = std::io::stdin();
                loop {
                    match std::io::Read::read(&mut stdin, &mut buf) {
                        Ok(0) | Err(_) => cleanup_and_exit(&tmp, 0),
                        Ok(_) => {}
                    }
                }
            });
        }
        server::serve(listener, tls, args.http1_only, state).await;
    });
}

fn cleanup_and_exit_msg(tmp: &Option<PathBuf>, msg: String) -> ! {
    eprintln!("oss-emulator: {msg}");
    cleanup_and_exit(tmp, 2)
}
