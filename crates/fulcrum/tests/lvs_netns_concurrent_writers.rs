//! Two writers of the L4 table at once: each `fulcrum ipvsadm` command reads the whole table, changes it and
//! writes it back, so without the table lock two commands running together lose one of the changes. Two
//! threads add 25 services each, concurrently, on the director of the `lvs_common` lab; every one of the 50
//! must be listed afterwards.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{setup, VIP};

#[test]
fn concurrent_ipvsadm_commands_lose_no_change() {
    let Some(lab) = setup() else { return };
    let lab = std::sync::Arc::new(lab);
    let writers: Vec<_> = [10_000u16, 20_000]
        .into_iter()
        .map(|base| {
            let lab = lab.clone();
            std::thread::spawn(move || {
                for port in base..base + 25 {
                    let (code, _, err) =
                        lab.ipvsadm(&["-A", "-t", &format!("{VIP}:{port}"), "-s", "rr"], "");
                    assert_eq!(code, 0, "{err}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let list = lab.ok("-L -n");
    let services = list.lines().filter(|l| l.starts_with("TCP  ")).count();
    assert_eq!(services, 50, "{list}");
}
