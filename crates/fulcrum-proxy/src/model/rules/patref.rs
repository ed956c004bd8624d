//! ACL pattern references, as HAProxy's runtime API sees ACL patterns (`show acl`, `add acl`, `del acl`,
//! `clear acl`).
//!
//! Every ACL expression of the configuration owns an anonymous reference (`#ID`) holding the patterns written on its
//! line, and each `-f FILE` names a reference shared by every ACL that loads the same file. References are numbered
//! in the order the configuration declares the expressions, a file when first named, then the expression's own, as
//! HAProxy numbers them. An ACL matches through one [`Part`] per reference it uses: the matcher compiled from the
//! reference's patterns with the ACL's method, swapped whole when the runtime API changes them, so workers read it
//! without a lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

use fulcrum_admin::runtime::{AclError, PatternEntry, PatternRef as RefInfo};
use fulcrum_config::haproxy::{Acl, Condition, Config, MatchMethod, Rules};

use super::matcher::Matcher;

/// One pattern of a reference.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    text: String,
}

/// The compiled patterns of one reference for one ACL expression (its method and case).
#[derive(Debug)]
pub struct Part {
    method: MatchMethod,
    ignore_case: bool,
    matcher: ArcSwap<Matcher>,
}

impl Part {
    /// The matcher in force.
    pub fn matcher(&self) -> arc_swap::Guard<Arc<Matcher>> {
        self.matcher.load()
    }
}

#[derive(Debug)]
struct RefState {
    entries: Vec<Entry>,
    parts: Vec<Weak<Part>>,
    /// `used by acl at file 'F' line N` (file references), one per expression.
    users: Vec<(u32, String)>,
}

/// One pattern reference.
#[derive(Debug)]
struct PatRef {
    id: u32,
    file: Option<String>,
    /// For an expression's own reference: `acl 'FETCH' file 'F' line N`.
    display: String,
    state: Mutex<RefState>,
}

impl PatRef {
    fn state(&self) -> std::sync::MutexGuard<'_, RefState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
struct Registry {
    refs: Vec<Arc<PatRef>>,
    by_file: HashMap<String, usize>,
    by_expr: HashMap<u32, usize>,
    /// (expression, reference index) → the part they share.
    parts: HashMap<(u32, usize), Arc<Part>>,
}

/// Every pattern reference of a running configuration.
#[derive(Debug, Default)]
pub struct PatternRefs {
    inner: Mutex<Registry>,
    next_entry: AtomicU64,
    /// The `userlist` sections by name, for the `http_auth` and `http_auth_group` ACLs.
    pub userlists: std::collections::HashMap<String, Arc<super::auth::Users>>,
}

/// Calls `f` on every ACL a proxy's rules use: its `acl` lines and those of its conditions.
fn each_acl<'a>(rules: &'a Rules, f: &mut dyn FnMut(&'a Acl)) {
    let mut cond = |c: &'a Option<Condition>| {
        for term in c.iter().flat_map(|c| c.any_of.iter().flatten()) {
            term.acls.iter().for_each(&mut *f);
        }
    };
    rules.use_backends.iter().for_each(|r| cond(&r.cond));
    rules.use_servers.iter().for_each(|r| cond(&r.cond));
    rules.monitor_fail.iter().for_each(|r| cond(&r.cond));
    rules.http_request.iter().for_each(|r| cond(&r.cond));
    rules.http_response.iter().for_each(|r| cond(&r.cond));
    rules.tcp_connection.iter().for_each(|r| cond(&r.cond));
    rules.stats_admin.iter().for_each(|r| cond(&r.cond));
    rules.stats_http_request.iter().for_each(|r| cond(&r.cond));
    rules.acls.iter().for_each(f);
}

/// HAProxy's words for a pattern an ACL cannot take.
fn invalid(method: MatchMethod, p: &str, why: &str) -> String {
    match method {
        MatchMethod::Ip => format!("'{p}' is not a valid IPv4 or IPv6 address."),
        MatchMethod::Int if p.contains(':') => format!("'{p}' is not a valid number range."),
        MatchMethod::Int => format!("'{p}' is not a number."),
        MatchMethod::Reg => format!("regex '{p}' is invalid ({why})."),
        _ => why.to_string(),
    }
}

impl Part {
    fn compile(&self, entries: &[Entry]) -> Result<Matcher, String> {
        let mut pats = Vec::with_capacity(entries.len());
        for e in entries {
            let p = fulcrum_config::haproxy::acl_pattern(self.method, self.ignore_case, &e.text)
                .map_err(|why| invalid(self.method, &e.text, &why))?;
            pats.push(p);
        }
        Matcher::build(self.method, self.ignore_case, &pats)
            .map_err(|p| invalid(self.method, &p, ""))
    }
}

impl PatternRefs {
    /// The references of `config`, numbered as HAProxy numbers them.
    pub fn from_config(config: &Config) -> PatternRefs {
        let refs = PatternRefs {
            userlists: config
                .userlists
                .iter()
                .map(|l| (l.name.clone(), Arc::new(super::auth::Users::new(l))))
                .collect(),
            ..PatternRefs::default()
        };
        let mut acls: Vec<&Acl> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in &config.proxies {
            each_acl(&p.rules, &mut |a| {
                if a.expr_id.is_some_and(|id| seen.insert(id)) {
                    acls.push(a);
                }
            });
        }
        acls.sort_by_key(|a| a.expr_id);
        for a in acls {
            refs.register(a);
        }
        refs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entries(&self, texts: &[String]) -> Vec<Entry> {
        texts
            .iter()
            .map(|t| Entry {
                id: self.next_entry.fetch_add(1, Ordering::Relaxed) + 1,
                text: t.clone(),
            })
            .collect()
    }

    /// Registers the references of an ACL expression (its files, then its own); returns their indices.
    fn register(&self, acl: &Acl) -> Vec<usize> {
        let Some(expr) = acl.expr_id else {
            return Vec::new();
        };
        let mut reg = self.lock();
        let mut out = Vec::new();
        let mut at = 0;
        let used_by = format!(
            "acl at file '{}' line {}",
            acl.location.file.display(),
            acl.location.line
        );
        for f in &acl.files {
            let texts = acl.patterns.get(at..at + f.count).unwrap_or_default();
            at += f.count;
            let idx = match reg.by_file.get(&f.path) {
                Some(&i) => i,
                None => {
                    let i = reg.refs.len();
                    let r = PatRef {
                        id: i as u32,
                        file: Some(f.path.clone()),
                        display: String::new(),
                        state: Mutex::new(RefState {
                            entries: self.entries(texts),
                            parts: Vec::new(),
                            users: Vec::new(),
                        }),
                    };
                    reg.refs.push(Arc::new(r));
                    reg.by_file.insert(f.path.clone(), i);
                    i
                }
            };
            let mut st = reg.refs[idx].state();
            if !st.users.iter().any(|(e, _)| *e == expr) {
                st.users.push((expr, used_by.clone()));
            }
            drop(st);
            out.push(idx);
        }
        let own = match reg.by_expr.get(&expr) {
            Some(&i) => i,
            None => {
                let i = reg.refs.len();
                let texts = acl.patterns.get(at..).unwrap_or_default();
                reg.refs.push(Arc::new(PatRef {
                    id: i as u32,
                    file: None,
                    display: format!(
                        "acl '{}' file '{}' line {}",
                        acl.fetch,
                        acl.location.file.display(),
                        acl.location.line
                    ),
                    state: Mutex::new(RefState {
                        entries: self.entries(texts),
                        parts: Vec::new(),
                        users: Vec::new(),
                    }),
                }));
                reg.by_expr.insert(expr, i);
                i
            }
        };
        out.push(own);
        out
    }

    /// The parts an ACL matches through: one per reference it uses (its files, then its own patterns). An ACL
    /// without an expression number (a predefined one) gets one part of its own patterns, outside any reference.
    pub fn parts(&self, acl: &Acl) -> Result<Vec<Arc<Part>>, String> {
        let fresh = |texts: &[String]| -> Result<Arc<Part>, String> {
            let part = Part {
                method: acl.method,
                ignore_case: acl.ignore_case,
                matcher: ArcSwap::from_pointee(Matcher::empty()),
            };
            let m = part.compile(&self.entries(texts))?;
            part.matcher.store(Arc::new(m));
            Ok(Arc::new(part))
        };
        let Some(expr) = acl.expr_id else {
            return Ok(vec![fresh(&acl.patterns)?]);
        };
        let indices = self.register(acl);
        let mut reg = self.lock();
        let mut out = Vec::with_capacity(indices.len());
        for idx in indices {
            if let Some(p) = reg.parts.get(&(expr, idx)) {
                out.push(p.clone());
                continue;
            }
            let r = reg.refs[idx].clone();
            let mut st = r.state();
            let part = Arc::new(Part {
                method: acl.method,
                ignore_case: acl.ignore_case,
                matcher: ArcSwap::from_pointee(Matcher::empty()),
            });
            part.matcher.store(Arc::new(part.compile(&st.entries)?));
            st.parts.push(Arc::downgrade(&part));
            drop(st);
            reg.parts.insert((expr, idx), part.clone());
            out.push(part);
        }
        Ok(out)
    }

    /// The reference named `#ID` or by its file.
    fn find(&self, name: &str) -> Option<Arc<PatRef>> {
        let reg = self.lock();
        let idx = match name.strip_prefix('#') {
            Some(n) => n.parse::<usize>().ok().filter(|i| *i < reg.refs.len())?,
            None => *reg.by_file.get(name)?,
        };
        Some(reg.refs[idx].clone())
    }

    /// `show acl`: every reference.
    pub fn list(&self) -> Vec<RefInfo> {
        let refs = self.lock().refs.clone();
        refs.iter()
            .map(|r| {
                let st = r.state();
                let display = match &r.file {
                    Some(f) => {
                        let users: Vec<&str> = st.users.iter().map(|(_, u)| u.as_str()).collect();
                        format!(
                            "pattern loaded from file '{f}' used by {}",
                            users.join(", by ")
                        )
                    }
                    None => r.display.clone(),
                };
                RefInfo {
                    id: r.id,
                    file: r.file.clone(),
                    display,
                    entries: st.entries.len(),
                }
            })
            .collect()
    }

    /// `show acl REF`.
    pub fn show(&self, name: &str) -> Option<Vec<PatternEntry>> {
        let r = self.find(name)?;
        let st = r.state();
        Some(
            st.entries
                .iter()
                .map(|e| PatternEntry {
                    id: e.id,
                    text: e.text.clone(),
                })
                .collect(),
        )
    }

    /// Replaces a reference's patterns by what `change` makes of them, recompiling every ACL part that uses it;
    /// nothing changes when one of them cannot take the new patterns.
    fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut Vec<Entry>) -> Result<(), AclError>,
    ) -> Result<(), AclError> {
        let r = self.find(name).ok_or(AclError::UnknownRef)?;
        let mut st = r.state();
        let mut entries = st.entries.clone();
        change(&mut entries)?;
        st.parts.retain(|p| p.strong_count() > 0);
        let parts: Vec<Arc<Part>> = st.parts.iter().filter_map(Weak::upgrade).collect();
        let mut compiled = Vec::with_capacity(parts.len());
        for p in &parts {
            compiled.push(p.compile(&entries).map_err(AclError::Invalid)?);
        }
        for (p, m) in parts.iter().zip(compiled) {
            p.matcher.store(Arc::new(m));
        }
        st.entries = entries;
        Ok(())
    }

    /// `add acl REF PATTERN`.
    pub fn add(&self, name: &str, pattern: &str) -> Result<(), AclError> {
        let id = self.next_entry.fetch_add(1, Ordering::Relaxed) + 1;
        self.update(name, |entries| {
            entries.push(Entry {
                id,
                text: pattern.to_string(),
            });
            Ok(())
        })
    }

    /// `del acl REF KEY|#ID`: every pattern equal to KEY, or the one with that id.
    pub fn del(&self, name: &str, key: &str) -> Result<(), AclError> {
        let by_id = key
            .strip_prefix("#0x")
            .or_else(|| key.strip_prefix('#'))
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        self.update(name, |entries| {
            let before = entries.len();
            match by_id {
                Some(id) => entries.retain(|e| e.id != id),
                None => entries.retain(|e| e.text != key),
            }
            if entries.len() == before {
                Err(AclError::KeyNotFound)
            } else {
                Ok(())
            }
        })
    }

    /// `clear acl REF`.
    pub fn clear(&self, name: &str) -> Result<(), AclError> {
        self.update(name, |entries| {
            entries.clear();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rules::acl::CompiledAcl;

    fn config(files: &str) -> Config {
        let text = format!(
            "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             frontend f\n bind 127.0.0.1:1\n acl a1 path /x /y\n acl a2 path_beg -f {files}\n\
             acl port dst_port 1:2\n http-request deny if {{ hdr(x) -i -f {files} }} || a1 || a2 || port\n\
             default_backend b\nbackend b\n acl b1 path -f {files}\n http-request deny if b1\n server s 127.0.0.1:1\n"
        );
        fulcrum_config::haproxy::parse_str("t.cfg", &text).unwrap()
    }

    fn pattern_file() -> String {
        let p = std::env::temp_dir().join(format!("fulcrum-patref-{}.acl", std::process::id()));
        std::fs::write(&p, "/a\n# comment\n/b\n").unwrap();
        p.display().to_string()
    }

    fn acl<'a>(c: &'a Config, proxy: usize, name: &str) -> &'a Acl {
        c.proxies[proxy]
            .rules
            .acls
            .iter()
            .find(|a| a.name == name)
            .unwrap()
    }

    #[test]
    fn numbered_as_haproxy_and_shared_by_file() {
        let f = pattern_file();
        let c = config(&f);
        let refs = PatternRefs::from_config(&c);
        let list = refs.list();
        let shown: Vec<(u32, Option<&str>, &str, usize)> = list
            .iter()
            .map(|r| (r.id, r.file.as_deref(), r.display.as_str(), r.entries))
            .collect();
        let used = format!(
            "pattern loaded from file '{f}' used by acl at file 't.cfg' line 9, by acl at file 't.cfg' line 11, by acl at file 't.cfg' line 14"
        );
        assert_eq!(
            shown,
            [
                (0, None, "acl 'path' file 't.cfg' line 8", 2),
                (1, Some(f.as_str()), used.as_str(), 2),
                (2, None, "acl 'path_beg' file 't.cfg' line 9", 0),
                (3, None, "acl 'dst_port' file 't.cfg' line 10", 1),
                (4, None, "acl 'hdr' file 't.cfg' line 11", 0),
                (5, None, "acl 'path' file 't.cfg' line 14", 0),
            ]
        );
        let texts: Vec<String> = refs.show(&f).unwrap().into_iter().map(|e| e.text).collect();
        assert_eq!(texts, ["/a", "/b"]);
        assert!(refs.show("#6").is_none() && refs.show("nope").is_none());
    }

    #[test]
    fn changes_reach_every_acl_using_the_reference() {
        let f = pattern_file();
        let c = config(&f);
        let refs = PatternRefs::from_config(&c);
        let beg = CompiledAcl::compile_with(acl(&c, 0, "a2"), &refs).unwrap();
        let exact = CompiledAcl::compile_with(acl(&c, 1, "b1"), &refs).unwrap();
        // Compiled twice (used by two conditions), an ACL shares its parts.
        let exact2 = CompiledAcl::compile_with(acl(&c, 1, "b1"), &refs).unwrap();
        assert!(beg.match_text("/a/x") && exact.match_text("/b") && !exact.match_text("/c"));
        refs.add(&f, "/c d;").unwrap();
        assert!(
            exact.match_text("/c d;") && exact2.match_text("/c d;") && beg.match_text("/c d;/e")
        );
        refs.del(&f, "/a").unwrap();
        assert!(!exact.match_text("/a") && !beg.match_text("/a/x"));
        assert_eq!(refs.del(&f, "/a"), Err(AclError::KeyNotFound));
        let id = refs.show(&f).unwrap()[0].id;
        refs.del(&f, &format!("#{id:#x}")).unwrap();
        assert!(!exact.match_text("/b"));
        refs.clear(&f).unwrap();
        assert!(refs.show(&f).unwrap().is_empty() && !exact.match_text("/c d;"));
        assert_eq!(refs.add("nope", "x"), Err(AclError::UnknownRef));
        assert_eq!(refs.clear("#99"), Err(AclError::UnknownRef));
        // The line's own patterns.
        let a1 = CompiledAcl::compile_with(acl(&c, 0, "a1"), &refs).unwrap();
        assert!(a1.match_text("/x"));
        refs.add("#0", "/z").unwrap();
        assert!(a1.match_text("/z"));
    }

    #[test]
    fn invalid_patterns_change_nothing() {
        let f = pattern_file();
        let c = config(&f);
        let refs = PatternRefs::from_config(&c);
        let port = CompiledAcl::compile_with(acl(&c, 0, "port"), &refs).unwrap();
        assert_eq!(
            refs.add("#3", "x"),
            Err(AclError::Invalid("'x' is not a number.".into()))
        );
        assert_eq!(
            refs.add("#3", "9:8"),
            Err(AclError::Invalid(
                "'9:8' is not a valid number range.".into()
            ))
        );
        assert_eq!(refs.show("#3").unwrap().len(), 1);
        refs.add("#3", "80:90").unwrap();
        assert!(port.match_int(85) && port.match_int(1) && !port.match_int(91));
        let mut c2 = c.clone();
        let ip = Acl {
            name: "ip".into(),
            sample: fulcrum_config::haproxy::Sample::Src,
            method: MatchMethod::Ip,
            ignore_case: false,
            patterns: vec!["10.0.0.0/8".into()],
            location: fulcrum_config::Location::new("t.cfg", 20),
            files: Vec::new(),
            fetch: "src".into(),
            expr_id: Some(100),
        };
        c2.proxies[0].rules.acls.push(ip.clone());
        let refs = PatternRefs::from_config(&c2);
        let compiled = CompiledAcl::compile_with(&ip, &refs).unwrap();
        assert_eq!(
            refs.add("#6", "notanip"),
            Err(AclError::Invalid(
                "'notanip' is not a valid IPv4 or IPv6 address.".into()
            ))
        );
        refs.add("#6", "192.168.0.0/255.255.0.0").unwrap();
        assert!(compiled.match_ip("192.168.3.4".parse().unwrap()));
        assert_eq!(
            refs.show("#6").unwrap()[1].text,
            "192.168.0.0/255.255.0.0",
            "kept as given"
        );
    }
}
