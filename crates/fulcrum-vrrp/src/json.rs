//! keepalived's JSON dump (`/tmp/keepalived.json`, written on `keepalived --signum=JSON`, signal 36): one object
//! per VRRP instance with its `data` and its `stats`, the file exporters and monitoring scripts read.
//!
//! Keys, their order, their types and the text of each value are keepalived 2.2.7's for the same configuration
//! and state (`crates/fulcrum/tests/vrrp_netns_json_dump.rs` compares them). Values describe what fulcrum does:
//! features fulcrum refuses or ignores (`use_vmac`, `promote_secondaries`, `smtp_alert`, `notify_deleted`,
//! `lower_prio_no_advert`, `higher_prio_send_advert`) show as off, which is how fulcrum behaves. Not written yet:
//! `vroutes` and `vrules` (the `virtual_routes` / `virtual_rules` lists).
//!
//! The text is written by hand rather than through a JSON library because the file is a wire format: keys keep
//! keepalived's order and strings are escaped as its JSON writer escapes them (`/` as `\/`).

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use crate::codec::Auth;
use crate::data::{vip_text, InstanceView};

/// keepalived's number for a state name (`INIT` 0, `BACKUP` 1, `MASTER` 2, `FAULT` 3).
fn state_number(state: &str) -> u8 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// A JSON string, escaped as keepalived's writer (json-c) escapes it: `/` as `\/` too.
fn string(out: &mut String, s: &str) {
    fulcrum_admin::json_stat::string(out, s, true);
}

/// Writes `"key":` then the value, with a comma before every key but the first of its object.
struct Obj<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut String) -> Obj<'o> {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        string(self.out, k);
        self.out.push(':');
        self.out
    }

    fn num(&mut self, k: &str, v: impl std::fmt::Display) {
        let _ = write!(self.key(k), "{v}");
    }

    fn flag(&mut self, k: &str, v: bool) {
        self.num(k, u8::from(v));
    }

    fn boolean(&mut self, k: &str, v: bool) {
        self.num(k, v);
    }

    fn str(&mut self, k: &str, v: &str) {
        string(self.key(k), v);
    }

    /// A list of strings, written only when it has entries (keepalived leaves empty lists out).
    fn list(&mut self, k: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        let out = self.key(k);
        out.push('[');
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            string(out, item);
        }
        out.push(']');
    }

    fn close(self) {
        self.out.push('}');
    }
}

/// The dump's text: a JSON array with one object per instance.
pub fn render(instances: &[InstanceView<'_>]) -> String {
    let mut out = String::from("[");
    for (n, i) in instances.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        instance(&mut out, i);
    }
    out.push(']');
    out
}

fn instance(out: &mut String, i: &InstanceView<'_>) {
    let mut top = Obj::open(out);
    {
        let mut d = Obj::open(top.key("data"));
        d.str("iname", i.name);
        d.flag("dont_track_primary", i.dont_track_primary);
        d.flag("skip_check_adv_addr", false);
        d.flag("strict_mode", i.strict);
        d.str("vmac_ifname", "");
        d.str("ifp_ifname", i.interface);
        d.num("master_priority", i.master_priority);
        let t = i
            .last_transition
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        d.num(
            "last_transition",
            format_args!("{}.{:06}", t.as_secs(), t.subsec_micros()),
        );
        d.num("garp_delay", i.garp.delay.as_secs());
        d.num("garp_refresh", i.garp.refresh.map_or(0, |r| r.as_secs()));
        d.num("garp_rep", i.garp.repeat);
        d.num("garp_refresh_rep", i.garp.refresh_repeat);
        // After a lower-priority advert, fulcrum repeats the master's bursts (keepalived's defaults).
        d.num("garp_lower_prio_delay", i.garp.delay.as_secs());
        d.num("garp_lower_prio_rep", i.garp.repeat);
        d.flag("lower_prio_no_advert", false);
        d.flag("higher_prio_send_advert", false);
        d.num("vrid", i.vrid);
        d.num("base_priority", i.priority);
        d.num("effective_priority", i.effective_priority);
        d.boolean("vipset", i.state == "MASTER");
        d.boolean("promote_secondaries", false);
        d.num("adver_int", i.advert_interval.as_secs());
        d.num("master_adver_int", i.master_advert_interval.as_secs());
        d.flag("accept", i.accept);
        d.boolean("nopreempt", !i.preempt);
        d.num("preempt_delay", i.preempt_delay.as_secs());
        d.num("state", state_number(i.state));
        d.num("wantstate", state_number(i.state));
        d.num("version", i.version);
        d.boolean("smtp_alert", false);
        d.boolean("notify_deleted", false);
        let vips: Vec<String> = i.vips.iter().map(vip_text).collect();
        d.list("vips", &vips);
        let evips: Vec<String> = i.evips.iter().map(vip_text).collect();
        d.list("evips", &evips);
        let ifps: Vec<String> = i.track_interfaces.iter().map(|s| s.to_string()).collect();
        d.list("track_ifp", &ifps);
        d.list("track_script", &i.track_scripts);
        match i.auth {
            Auth::None => d.num("auth_type", 0),
            Auth::Pass(p) | Auth::Ah(p) => {
                d.num(
                    "auth_type",
                    if matches!(i.auth, Auth::Pass(_)) {
                        1
                    } else {
                        2
                    },
                );
                let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
                d.str("auth_data", &String::from_utf8_lossy(&p[..end]));
            }
        }
        d.close();
    }
    {
        let st = i.stats;
        let mut s = Obj::open(top.key("stats"));
        s.num("advert_rcvd", st.adverts_received);
        s.num("advert_sent", st.adverts_sent);
        s.num("become_master", st.became_master);
        s.num("release_master", st.released_master);
        s.num("packet_len_err", st.length_errors);
        s.num("advert_interval_err", st.advert_interval_errors);
        s.num("ip_ttl_err", st.ttl_errors);
        s.num("invalid_type_rcvd", st.invalid_type_errors);
        s.num("addr_list_err", st.address_list_errors);
        s.num("invalid_authtype", st.auth_invalid_type);
        s.num("authtype_mismatch", st.auth_type_mismatch);
        s.num("auth_failure", st.auth_failure);
        s.num("pri_zero_rcvd", st.priority_zero_received);
        s.num("pri_zero_sent", st.priority_zero_sent);
        s.close();
    }
    top.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::script_words;
    use crate::instance::GarpSchedule;
    use crate::stats::InstanceStats;
    use std::time::Duration;

    #[test]
    fn strings_are_escaped_as_keepalived_escapes_them() {
        let mut s = String::new();
        string(&mut s, "198.18.0.1/24 \"a\"\\\n\u{1}");
        assert_eq!(s, r#""198.18.0.1\/24 \"a\"\\\n\u0001""#);
    }

    #[test]
    fn an_instance_object() {
        let auth = Auth::pass("s3cret");
        let stats = InstanceStats {
            adverts_sent: 2,
            became_master: 1,
            ..Default::default()
        };
        let v = InstanceView {
            name: "VI_1",
            version: 2,
            state: "MASTER",
            last_transition: UNIX_EPOCH + Duration::from_micros(1_796_476_052_144_511),
            last_reason: "started",
            interface: "va",
            src: "198.18.0.1".parse().unwrap(),
            src_configured: false,
            group: Some("224.0.0.18".parse().unwrap()),
            peers: &[],
            garp: GarpSchedule::default(),
            vrid: 51,
            priority: 150,
            effective_priority: 150,
            advert_interval: Duration::from_secs(1),
            accept: true,
            preempt: true,
            auth: &auth,
            vips: vec![
                ("198.18.0.100".parse().unwrap(), 24, "va", 0, true),
                ("198.18.0.102".parse().unwrap(), 32, "va", 0, true),
            ],
            evips: vec![],
            dont_track_primary: false,
            strict: false,
            master_priority: 0,
            master_advert_interval: Duration::from_secs(1),
            preempt_delay: Duration::ZERO,
            track_interfaces: vec![],
            track_scripts: vec![],
            stats: &stats,
        };
        // keepalived 2.2.7's file for the same configuration and state.
        let want = r#"[{"data":{"iname":"VI_1","dont_track_primary":0,"skip_check_adv_addr":0,"strict_mode":0,"vmac_ifname":"","ifp_ifname":"va","master_priority":0,"last_transition":1796476052.144511,"garp_delay":5,"garp_refresh":0,"garp_rep":5,"garp_refresh_rep":1,"garp_lower_prio_delay":5,"garp_lower_prio_rep":5,"lower_prio_no_advert":0,"higher_prio_send_advert":0,"vrid":51,"base_priority":150,"effective_priority":150,"vipset":true,"promote_secondaries":false,"adver_int":1,"master_adver_int":1,"accept":1,"nopreempt":false,"preempt_delay":0,"state":2,"wantstate":2,"version":2,"smtp_alert":false,"notify_deleted":false,"vips":["198.18.0.100\/24 dev va scope global set","198.18.0.102 dev va scope global set"],"auth_type":1,"auth_data":"s3cret"},"stats":{"advert_rcvd":0,"advert_sent":2,"become_master":1,"release_master":0,"packet_len_err":0,"advert_interval_err":0,"ip_ttl_err":0,"invalid_type_rcvd":0,"addr_list_err":0,"invalid_authtype":0,"authtype_mismatch":0,"auth_failure":0,"pri_zero_rcvd":0,"pri_zero_sent":0}}]"#;
        assert_eq!(render(&[v]), want);
    }

    #[test]
    fn the_program_of_a_script_is_its_real_path() {
        let w = script_words("/bin/echo hi there");
        assert!(w.ends_with("/echo' 'hi' 'there'"), "{w}");
        assert!(w.starts_with("'/"), "{w}");
    }
}
