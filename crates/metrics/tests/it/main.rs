//! Integration tests for gitops-metrics.

// Test code runs on the harness's threads: blocking file and process calls are fine here.
#![allow(clippy::disallowed_methods)]

mod aggregate;
mod event;
mod read;
mod render;
mod report;
mod sink;
