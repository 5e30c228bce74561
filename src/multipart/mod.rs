//! Multipart uploads: the part plan and the scheduler.

pub mod checkpoint;
pub mod plan;
pub mod upload;
pub mod stream;
