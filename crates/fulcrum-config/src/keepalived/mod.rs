//! The keepalived.conf dialect.
