//! Pure server-selection algorithms: HAProxy's balance modes and LVS schedulers. No I/O, no clocks.

pub mod lvs;
