//! The verifier checked against every V1 and V4 vector of spec/oss-protocol.md.
