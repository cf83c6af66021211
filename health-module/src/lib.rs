//! Health checks (skeleton; being written).
