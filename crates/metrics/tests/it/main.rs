//! Integration tests for gitops-metrics.

mod aggregate;
mod event;
mod read;
mod sink;
