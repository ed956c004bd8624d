//! Whether the XDP program runs in this network namespace, for `ipvsadm --plane`, without loading it when an
//! earlier command has: a load runs the kernel's verifier over the whole program, which takes seconds.

use super::xdp::{pin_dir, pinned_service_ids_in};
use std::path::Path;

/// How `ipvsadm --plane` found out whether the XDP program runs here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XdpProbe {
    /// This build's program is pinned here (its maps open): an earlier command loaded it, so it runs; the
    /// ids of the services in its map. Nothing was loaded.
    Pinned(Vec<u32>),
    /// Nothing of this build is pinned: the program was loaded and dropped, to see whether the kernel takes
    /// it; the reason when it did not.
    LoadTested(Option<String>),
}

/// Whether XDP runs, the cheap way first: `pinned` gives the ids of a pinned program's services (None when
/// none is pinned); only without one is `load` tried.
pub fn probe_with(
    pinned: impl FnOnce() -> Option<Vec<u32>>,
    load: impl FnOnce() -> Result<(), String>,
) -> XdpProbe {
    match pinned() {
        Some(ids) => XdpProbe::Pinned(ids),
        None => XdpProbe::LoadTested(load().err()),
    }
}

/// [`probe_with`] on the program pinned under `dir`, else a real load.
pub fn probe_in(dir: &Path) -> XdpProbe {
    probe_with(
        || pinned_service_ids_in(dir),
        || {
            fulcrum_xdp::Xdp::load()
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
}

/// [`probe_in`] the XDP plane's pin directory.
pub fn probe() -> XdpProbe {
    probe_in(&pin_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_pinned_program_is_not_loaded_again() {
        let loads = Cell::new(0);
        let load = || {
            loads.set(loads.get() + 1);
            Ok(())
        };
        assert_eq!(
            probe_with(|| Some(vec![3, 7]), load),
            XdpProbe::Pinned(vec![3, 7])
        );
        assert_eq!(loads.get(), 0, "no load with a pinned program");
        // pinned with no service yet (the services were all deleted): still the running program
        assert_eq!(
            probe_with(|| Some(Vec::new()), load),
            XdpProbe::Pinned(Vec::new())
        );
        assert_eq!(loads.get(), 0);
    }

    #[test]
    fn without_a_pinned_program_the_load_decides() {
        let loads = Cell::new(0);
        let ok = || {
            loads.set(loads.get() + 1);
            Ok(())
        };
        assert_eq!(probe_with(|| None, ok), XdpProbe::LoadTested(None));
        let refused = || {
            loads.set(loads.get() + 1);
            Err("xdp unavailable: the kernel refused the program".to_string())
        };
        assert_eq!(
            probe_with(|| None, refused),
            XdpProbe::LoadTested(Some(
                "xdp unavailable: the kernel refused the program".into()
            ))
        );
        assert_eq!(loads.get(), 2);
    }

    #[test]
    fn an_empty_pin_directory_is_not_a_pinned_program() {
        let dir = std::env::temp_dir().join(format!("fulcrum-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(pinned_service_ids_in(&dir), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
