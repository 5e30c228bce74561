#![deny(clippy::all)]
use napi_derive::napi;

pub mod config;
pub mod crc64;
pub mod sign;
pub mod xml;

/// Version of the native core.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_set() {
        assert!(!super::native_version().is_empty());
    }
}
