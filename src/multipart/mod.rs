//! Multipart uploads: the part plan and the scheduler.

pub mod checkpoint;
pub mod plan;
pub mod store;
pub mod stream;
pub mod upload;
