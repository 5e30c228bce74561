//! Multipart uploads: the part plan and the scheduler.

pub mod checkpoint;
pub mod plan;
#[cfg(test)]
mod scheduler_tests;
pub mod store;
pub mod stream;
pub mod upload;
