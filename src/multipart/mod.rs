//! Multipart uploads: the part plan and the scheduler.

pub mod checkpoint;
pub mod plan;
pub mod stream;
pub mod upload;
