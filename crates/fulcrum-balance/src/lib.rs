//! Pure server-selection algorithms: HAProxy's balance modes and LVS schedulers. No I/O, no clocks.
//!
//! A [`Farm`] is built off the hot path from the backend's [`ServerSlot`]s; each worker thread
//! then picks with its own [`Selector`]:
//!
//! ```
//! use fulcrum_balance::{Algorithm, Farm, HashType, RequestKey, Selector, ServerSlot};
//!
//! let slots = [ServerSlot::new(3), ServerSlot::new(1)];
//! let farm = Farm::new(&slots, false, Algorithm::RoundRobin, HashType::default()).unwrap();
//! let mut sel = Selector::new();
//! let picks: Vec<_> = (0..4)
//!     .map(|_| sel.pick(&farm, &RequestKey::empty(), |_| 0, 0).unwrap())
//!     .collect();
//! assert_eq!(picks, [0, 0, 1, 0]);
//! ```

pub mod algorithm;
pub mod error;
pub mod farm;
pub mod hash;
pub mod key;
pub mod lvs;
pub mod ring;
pub mod selector;
pub mod sequence;

pub use algorithm::{Algorithm, HashFunction, HashMethod, HashType, UriOptions};
pub use error::BuildError;
pub use farm::{Farm, ServerSlot};
pub use key::{query_param_value, RequestKey};
pub use selector::Selector;
