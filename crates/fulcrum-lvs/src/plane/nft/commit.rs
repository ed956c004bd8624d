//! The one step of a store that changes the host, and what happens when it fails.
//!
//! A store changes two things: the tunnel encapsulation filters (`tc`, one per egress device, attached
//! before the rules that mark packets for them) and both nftables tables (one `nft -f` transaction: both
//! tables, every chain, set element and counter; the kernel takes all of it or none). When any of it
//! fails, the table is read back: if the previous table's records are in force, the filters attached for
//! the new table are put back as the previous table had them (removed from devices it did not use) and the
//! error says the previous table is in place ([`PlaneError::NotApplied`]). If the new table turns out to be
//! in force (`nft` failing after the kernel committed, say killed on its way out), the store counts as done.
//! If the read-back shows neither, or fails, the error says the table in force is not known
//! ([`PlaneError::Uncertain`]).

use super::{discover_host, NftPlane, Snapshot};
use crate::model::Table;
use crate::plane::render;
use crate::plane::tunnel::{attach, program::Encap};
use crate::plane::PlaneError;
use crate::record;
use std::collections::HashMap;

/// Which table the kernel holds after a failed store.
#[derive(Debug, PartialEq, Eq)]
enum InForce {
    Previous,
    New,
    Neither,
}

/// Attaches the encapsulation filters of `encaps`, applies `script`, and removes the filters `old` used that
/// the new table does not; on failure, see the module documentation.
pub(super) fn commit(
    plane: &mut NftPlane,
    old: &Snapshot,
    table: &Table,
    script: &str,
    encaps: &HashMap<String, Vec<Encap>>,
) -> Result<(), PlaneError> {
    let mut devs: Vec<&String> = encaps.keys().collect();
    devs.sort();
    let mut attached: Vec<String> = Vec::new();
    let mut result = Ok(());
    for dev in devs {
        if let Err(e) = attach::attach(dev, &encaps[dev]) {
            result = Err(e);
            break;
        }
        attached.push(dev.clone());
    }
    if result.is_ok() {
        result = plane.apply(script);
    }
    let Err(cause) = result else {
        detach_unused(old, encaps);
        return Ok(());
    };
    match in_force(plane, old, table) {
        Ok(InForce::Previous) => {
            restore_filters(old, &attached);
            Err(PlaneError::NotApplied(Box::new(cause)))
        }
        Ok(InForce::New) => {
            tracing::warn!("the store reported a failure, but the new table is in force: {cause}");
            detach_unused(old, encaps);
            Ok(())
        }
        Ok(InForce::Neither) => Err(PlaneError::Uncertain {
            cause: Box::new(cause),
            check: "the table read back is neither the previous one nor the new one".into(),
        }),
        Err(e) => Err(PlaneError::Uncertain {
            cause: Box::new(cause),
            check: format!("reading it back failed: {e}"),
        }),
    }
}

/// Removes the filters of devices the previous table used and the new one does not.
fn detach_unused(old: &Snapshot, encaps: &HashMap<String, Vec<Encap>>) {
    for dev in old.tun_devs.iter().filter(|d| !encaps.contains_key(*d)) {
        attach::detach(dev);
    }
}

/// Reads the configuration in force and compares it with the previous table's and the new one's (the
/// records only: counters move with traffic, and a change of counters alone, `-Z`, reads as the previous
/// table, which is what the kernel holds when its transaction failed).
fn in_force(plane: &NftPlane, old: &Snapshot, table: &Table) -> Result<InForce, PlaneError> {
    let now = record::encode(&plane.read_both()?.table);
    Ok(if now == record::encode(&old.table) {
        InForce::Previous
    } else if now == record::encode(table) {
        InForce::New
    } else {
        InForce::Neither
    })
}

/// Puts the filters of `attached` devices back as the previous table had them: its own program on the
/// devices it used, none on the others. A device the previous table used but whose route is gone now keeps
/// the new program (the previous rules still send to it; no program would let those packets out bare).
fn restore_filters(old: &Snapshot, attached: &[String]) {
    if attached.is_empty() {
        return;
    }
    let before = render::tunnel_encaps(&old.table, &discover_host(&old.table, HashMap::new()));
    for dev in attached {
        match (old.tun_devs.contains(dev), before.get(dev)) {
            (false, _) => attach::detach(dev),
            (true, Some(dests)) => {
                if let Err(e) = attach::attach(dev, dests) {
                    tracing::error!(
                        "cannot put back the previous encapsulation filter on {dev}: {e}"
                    );
                }
            }
            (true, None) => tracing::warn!(
                "no route to the previous table's tunnel servers through {dev}: its new encapsulation filter stays"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plane::DataPlane as _;
    use std::path::{Path, PathBuf};

    /// A stand-in for `nft` (a shell script): `-j list table inet fulcrum_lvs` prints `inet.json` (the
    /// netdev table does not exist); `-f -` keeps the script, then takes `commit.json` as the table in
    /// force when the test left one, makes the listing fail when `broken` exists, and fails with an error
    /// of the kernel's.
    const FAKE_NFT: &str = r#"#!/bin/sh
d=$(dirname "$0")
case "$1" in
  -j)
    if [ -e "$d/broken" ]; then echo "Error: Operation not permitted" >&2; exit 1; fi
    if [ "$4" = inet ] && [ -e "$d/inet.json" ]; then cat "$d/inet.json"; exit 0; fi
    echo "Error: Could not process rule: No such file or directory" >&2; exit 1;;
  -f)
    cat > "$d/script.nft"
    if [ -e "$d/commit.json" ]; then mv "$d/commit.json" "$d/inet.json"; fi
    if [ -e "$d/break" ]; then : > "$d/broken"; fi
    echo "/dev/stdin:40:52-61: Error: Could not process rule: Too many open files in system" >&2
    exit 1;;
esac
exit 1
"#;

    fn table(lines: &[&str]) -> Table {
        record::decode(lines.iter().copied()).unwrap_or_default()
    }

    /// What `nft -j list table inet fulcrum_lvs` shows of `t`: its model chain.
    fn json(t: &Table) -> String {
        let rules: Vec<serde_json::Value> = record::encode(t)
            .into_iter()
            .map(|c| serde_json::json!({"rule": {"family": "inet", "table": "fulcrum_lvs", "chain": "model", "comment": c}}))
            .collect();
        serde_json::json!({ "nftables": rules }).to_string()
    }

    fn lab(tag: &str) -> (PathBuf, NftPlane) {
        let dir =
            std::env::temp_dir().join(format!("fulcrum-lvs-commit-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let nft = dir.join("nft");
        std::fs::write(&nft, FAKE_NFT).unwrap_or_default();
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755));
        let plane = NftPlane {
            nft: Some(nft.display().to_string()),
        };
        (dir, plane)
    }

    const OLD: [&str; 3] = [
        "T 900 120 300",
        "S 0 tcp/198.19.0.100/80 rr 0 0 m255.255.255.255 -",
        "R 0 0 198.18.1.2 8080 m 1 0 0 ipip 0 n",
    ];

    fn new_table() -> Table {
        let mut lines = OLD.to_vec();
        lines.push("R 0 1 198.18.1.3 8080 m 1 0 0 ipip 0 n");
        table(&lines)
    }

    fn write(dir: &Path, name: &str, t: &Table) {
        std::fs::write(dir.join(name), json(t)).unwrap_or_default();
    }

    #[test]
    fn a_refused_transaction_leaves_the_previous_table_and_says_so() {
        let (dir, mut plane) = lab("refused");
        write(&dir, "inet.json", &table(&OLD));
        let e = plane.store(&new_table()).err();
        let text = e.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(matches!(e, Some(PlaneError::NotApplied(_))), "{e:?}");
        assert!(
            text.starts_with("the change was not applied, the previous table is in place: ")
                && text.contains("/nft failed: /dev/stdin:40:52-61: Error: Could not process rule: Too many open files in system"),
            "{text}"
        );
        // The script went to nft whole: both tables in one transaction.
        let script = std::fs::read_to_string(dir.join("script.nft")).unwrap_or_default();
        assert!(
            script.contains("delete table inet fulcrum_lvs")
                && script.contains("delete table netdev fulcrum_lvs")
                && script.contains("jump r0_1"),
            "{script}"
        );
        assert_eq!(plane.model().ok(), Some(table(&OLD)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn nothing_runs_when_the_table_cannot_be_read_first() {
        let (dir, mut plane) = lab("unreadable");
        std::fs::write(dir.join("inet.json"), "not json").unwrap_or_default();
        let e = plane.store(&new_table()).err();
        assert!(
            matches!(&e, Some(PlaneError::NotApplied(c)) if matches!(**c, PlaneError::Parse(_))),
            "{e:?}"
        );
        assert!(!dir.join("script.nft").exists(), "nft -f ran");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_failure_after_the_kernel_committed_counts_as_done() {
        let (dir, mut plane) = lab("committed");
        write(&dir, "inet.json", &table(&OLD));
        write(&dir, "commit.json", &new_table());
        assert_eq!(plane.store(&new_table()).ok(), Some(()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unknown_outcome_is_not_called_the_previous_table() {
        let (dir, mut plane) = lab("unknown");
        write(&dir, "inet.json", &table(&OLD));
        write(&dir, "commit.json", &table(&OLD[..2]));
        let e = plane.store(&new_table()).err();
        let text = e.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(matches!(e, Some(PlaneError::Uncertain { .. })), "{e:?}");
        assert!(
            text.contains("neither the previous one nor the new one")
                && text.contains("list it with ipvsadm -Ln")
                && !text.contains("previous table is in place"),
            "{text}"
        );
        let (dir2, mut plane) = lab("unreadable-after");
        write(&dir2, "inet.json", &table(&OLD));
        std::fs::write(dir2.join("break"), "").unwrap_or_default();
        let e = plane.store(&new_table()).err();
        let text = e.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(
            matches!(e, Some(PlaneError::Uncertain { .. }))
                && text.contains("reading it back failed")
                && text.contains("Operation not permitted"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(dir2);
    }
}
