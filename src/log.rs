//! The opt-in debug log: `OSS_TURBO_LOG=debug` prints requests, retries, backoff and checkpoint writes to
//! stderr. Lines never contain the `Authorization` header, the secret or the STS token: callers log only
//! methods, URLs (which carry no credentials), statuses, sizes and error descriptions.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether the debug log is on (read once from `OSS_TURBO_LOG`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        matches!(
            std::env::var("OSS_TURBO_LOG")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Ok("debug" | "trace" | "1" | "true")
        )
    })
}

pub fn write(args: std::fmt::Arguments<'_>) {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    eprintln!("[oss-turbo {}.{:03}] {}", ms / 1000, ms % 1000, args);
}

/// `debug!("…", args)`: one line in the debug log, formatted only when the log is on.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled() {
            $crate::log::write(format_args!($($arg)*));
        }
    };
}
