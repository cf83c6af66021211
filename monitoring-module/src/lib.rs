//! Prometheus metrics (skeleton; being written).
