//! The proxy data path.
