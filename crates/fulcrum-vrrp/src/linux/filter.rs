//! `no_accept` (RFC 5798 Accept_Mode off): while an instance that does not own its addresses (priority below 255)
//! is master, traffic to its virtual addresses is dropped, except VRRP and IPv6 neighbour discovery (ARP is not IP
//! and never reaches these hooks). keepalived does the same with its own nftables or iptables rules.
//!
//! fulcrum owns one nftables table, written through `nft -f -` as `crates/fulcrum-lvs` does (the text language is
//! nftables' stable interface, and one run is one kernel transaction):
//!
//! ```text
//! table inet fulcrum_vrrp {
//!     set vips4_VI_1 { type ipv4_addr; }          # one set per no_accept instance and family
//!     set vips6_VI_6 { type ipv6_addr; }
//!     chain input {
//!         type filter hook input priority filter; policy accept;
//!         meta l4proto 112 accept                 # VRRP
//!         icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
//!         ip daddr @vips4_VI_1 drop
//!         ip6 daddr @vips6_VI_6 drop
//!     }
//! }
//! ```
//!
//! The table is created empty at start (replacing one a killed run left behind), an instance's addresses are added
//! to its sets when it becomes master and flushed when it leaves, and the table is deleted on exit. Without any
//! no_accept instance no table exists (one left behind is deleted when `nft` is there).

use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// The table's family and name.
pub const TABLE: &str = "inet fulcrum_vrrp";

/// The addresses of one no_accept instance and the sets that hold them while it is master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPlan {
    /// Set of its IPv4 addresses (`vips4_NAME`).
    pub set4: String,
    /// Set of its IPv6 addresses (`vips6_NAME`).
    pub set6: String,
    /// Its virtual addresses, advertised and excluded.
    pub addrs: Vec<IpAddr>,
}

impl FilterPlan {
    /// The plan for instance `name`; `taken` are set names already used (two names may sanitise alike).
    pub fn new(name: &str, index: usize, addrs: Vec<IpAddr>, taken: &[FilterPlan]) -> FilterPlan {
        let mut base: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        if taken.iter().any(|t| t.set4 == format!("vips4_{base}")) {
            base = format!("{base}_{index}");
        }
        FilterPlan {
            set4: format!("vips4_{base}"),
            set6: format!("vips6_{base}"),
            addrs,
        }
    }

    fn has(&self, v6: bool) -> bool {
        self.addrs.iter().any(|a| a.is_ipv6() == v6)
    }

    fn elements(&self, v6: bool) -> String {
        let v: Vec<String> = self
            .addrs
            .iter()
            .filter(|a| a.is_ipv6() == v6)
            .map(IpAddr::to_string)
            .collect();
        v.join(", ")
    }
}

/// The script that (re)creates the table with the (empty) sets of `plans`; without plans it only deletes it.
pub fn render_table(plans: &[&FilterPlan]) -> String {
    let mut s = format!("table {TABLE}\ndelete table {TABLE}\n");
    if plans.is_empty() {
        return s;
    }
    s.push_str(&format!("table {TABLE} {{\n"));
    let mut rules = String::new();
    for p in plans {
        if p.has(false) {
            s.push_str(&format!("    set {} {{ type ipv4_addr; }}\n", p.set4));
            rules.push_str(&format!("        ip daddr @{} drop\n", p.set4));
        }
        if p.has(true) {
            s.push_str(&format!("    set {} {{ type ipv6_addr; }}\n", p.set6));
            rules.push_str(&format!("        ip6 daddr @{} drop\n", p.set6));
        }
    }
    s.push_str(
        "    chain input {\n        type filter hook input priority filter; policy accept;\n        \
         meta l4proto 112 accept\n        \
         icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n",
    );
    s.push_str(&rules);
    s.push_str("    }\n}\n");
    s
}

/// The script that adds an instance's addresses to its sets.
pub fn render_block(p: &FilterPlan) -> String {
    let mut s = String::new();
    for (v6, set) in [(false, &p.set4), (true, &p.set6)] {
        if p.has(v6) {
            s.push_str(&format!(
                "add element {TABLE} {set} {{ {} }}\n",
                p.elements(v6)
            ));
        }
    }
    s
}

/// The script that empties an instance's sets.
pub fn render_unblock(p: &FilterPlan) -> String {
    let mut s = String::new();
    for (v6, set) in [(false, &p.set4), (true, &p.set6)] {
        if p.has(v6) {
            s.push_str(&format!("flush set {TABLE} {set}\n"));
        }
    }
    s
}

/// Runs `nft` scripts.
#[derive(Debug, Clone)]
pub struct Nft {
    program: String,
    /// Whether fulcrum's table exists (created by [`Nft::install`]).
    active: bool,
}

impl Default for Nft {
    fn default() -> Self {
        Nft::new("nft")
    }
}

impl Nft {
    /// Uses `program` as `nft`.
    pub fn new(program: &str) -> Nft {
        Nft {
            program: program.to_string(),
            active: false,
        }
    }

    /// Whether the table exists.
    pub fn active(&self) -> bool {
        self.active
    }

    /// Creates the table for `plans`, replacing any earlier one, with the addresses of `blocked` (masters kept
    /// across a reload) in their sets, in one transaction; with no plans, deletes a table left behind, quietly
    /// (nothing is needed then, not even `nft`).
    pub fn install(
        &mut self,
        plans: &[&FilterPlan],
        blocked: &[&FilterPlan],
    ) -> Result<(), String> {
        let mut script = render_table(plans);
        for b in blocked {
            script.push_str(&render_block(b));
        }
        if plans.is_empty() {
            // Creating then deleting is a no-op when there is no table; errors (no nft) do not matter here.
            let _ = self.run(&script);
            self.active = false;
            return Ok(());
        }
        self.run(&script).map_err(|e| {
            format!("no_accept needs nftables to drop traffic to the virtual addresses: {e}")
        })?;
        self.active = true;
        Ok(())
    }

    /// Adds an instance's addresses to its sets.
    pub fn block(&mut self, p: &FilterPlan) -> Result<(), String> {
        self.run(&render_block(p))
    }

    /// Empties an instance's sets.
    pub fn unblock(&mut self, p: &FilterPlan) -> Result<(), String> {
        self.run(&render_unblock(p))
    }

    /// Deletes the table (on exit).
    pub fn remove(&mut self) {
        if self.active {
            if let Err(e) = self.run(&format!("delete table {TABLE}\n")) {
                tracing::warn!("deleting nftables table {TABLE}: {e}");
            }
            self.active = false;
        }
    }

    fn run(&self, script: &str) -> Result<(), String> {
        let mut child = Command::new(&self.program)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "'{}' not found (install nftables, or use 'accept')",
                    self.program
                ),
                _ => format!("cannot run '{}': {e}", self.program),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| format!("writing to '{}': {e}", self.program))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for '{}': {e}", self.program))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "'{} -f -' failed: {}",
                self.program,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn set_names_are_sanitised_and_unique() {
        let a = FilterPlan::new("VI_1", 0, ips(&["198.18.0.100"]), &[]);
        assert_eq!(
            (a.set4.as_str(), a.set6.as_str()),
            ("vips4_VI_1", "vips6_VI_1")
        );
        let b = FilterPlan::new("VI-1", 1, vec![], std::slice::from_ref(&a));
        assert_eq!(b.set4, "vips4_VI_1_1");
    }

    #[test]
    fn table_block_and_unblock_scripts() {
        let a = FilterPlan::new("VI_1", 0, ips(&["198.18.0.100", "198.18.0.101"]), &[]);
        let b = FilterPlan::new("V6", 1, ips(&["fe80::7", "fd00::100", "198.18.1.1"]), &[]);
        let t = render_table(&[&a, &b]);
        assert!(t.starts_with("table inet fulcrum_vrrp\ndelete table inet fulcrum_vrrp\n"));
        assert!(t.contains("set vips4_VI_1 { type ipv4_addr; }"), "{t}");
        assert!(!t.contains("vips6_VI_1"), "{t}");
        assert!(t.contains("set vips6_V6 { type ipv6_addr; }"), "{t}");
        assert!(t.contains("ip daddr @vips4_VI_1 drop"), "{t}");
        assert!(t.contains("ip6 daddr @vips6_V6 drop"), "{t}");
        assert!(t.contains("ip daddr @vips4_V6 drop"), "{t}");
        // VRRP and ND are accepted before any drop.
        let accept = t.find("meta l4proto 112 accept").unwrap();
        assert!(accept < t.find("drop").unwrap());
        assert_eq!(
            render_block(&a),
            "add element inet fulcrum_vrrp vips4_VI_1 { 198.18.0.100, 198.18.0.101 }\n"
        );
        assert_eq!(
            render_block(&b),
            "add element inet fulcrum_vrrp vips4_V6 { 198.18.1.1 }\n\
             add element inet fulcrum_vrrp vips6_V6 { fe80::7, fd00::100 }\n"
        );
        assert_eq!(
            render_unblock(&b),
            "flush set inet fulcrum_vrrp vips4_V6\nflush set inet fulcrum_vrrp vips6_V6\n"
        );
        assert_eq!(
            render_table(&[]),
            "table inet fulcrum_vrrp\ndelete table inet fulcrum_vrrp\n"
        );
    }

    #[test]
    fn missing_nft_is_a_clear_error() {
        let a = FilterPlan::new("VI_1", 0, ips(&["198.18.0.100"]), &[]);
        let mut n = Nft::new("/nonexistent/fulcrum-test/nft");
        let e = n.install(&[&a], &[]).unwrap_err();
        assert!(e.contains("no_accept needs nftables"), "{e}");
        assert!(
            e.contains("'/nonexistent/fulcrum-test/nft' not found"),
            "{e}"
        );
        assert!(!n.active());
        // Without no_accept instances nothing is needed.
        assert!(n.install(&[], &[]).is_ok());
    }
}
