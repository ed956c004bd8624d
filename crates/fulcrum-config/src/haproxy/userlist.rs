//! `userlist NAME` sections: users with their passwords and groups, which `http-request auth` challenges for and
//! the `http_auth(NAME)` and `http_auth_group(NAME)` fetches check.

use super::common::{Line, Sink};
use super::model::{Password, User, Userlist};
use crate::diag::Severity;
use crate::Location;

/// The crypt(3) hash schemes fulcrum verifies: MD5 (`$1$`), bcrypt (`$2a$`, `$2b$`, `$2y$`), SHA-256 (`$5$`),
/// SHA-512 (`$6$`), and the traditional 13-character DES form.
fn known_hash(h: &str) -> bool {
    const PREFIXES: &[&str] = &["$1$", "$2a$", "$2b$", "$2y$", "$5$", "$6$"];
    PREFIXES.iter().any(|p| h.starts_with(p))
        || (h.len() == 13
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/'))
}

/// Parses the lines of `userlist NAME` into `lists`; a second section of the same name is refused, as in
/// HAProxy 2.6. Groups and users that name each other must exist in the section.
pub fn section(
    name: &str,
    location: &Location,
    lines: &[Line],
    lists: &mut Vec<Userlist>,
    sink: &mut Sink,
) {
    if name.is_empty() {
        sink.error(location, "userlist", "'userlist' expects a name");
        return;
    }
    if lists.iter().any(|l| l.name == name) {
        sink.error(
            location,
            "userlist",
            format!("userlist '{name}' already exists in the configuration"),
        );
        return;
    }
    let mut list = Userlist {
        name: name.to_string(),
        users: Vec::new(),
        groups: Vec::new(),
        location: location.clone(),
    };
    // Which users a `group ... users` line names, checked once every user is known.
    let mut members: Vec<(Location, String, Vec<String>)> = Vec::new();
    for line in lines {
        let loc = &line.location;
        match line.word(0) {
            "group" => {
                let g = line.word(1);
                if g.is_empty() {
                    sink.error(loc, "group", "'group' expects a group name");
                    continue;
                }
                let users = match (line.word(2), line.words.len()) {
                    (_, 2) => Vec::new(),
                    ("users", 4) => split_list(line.word(3)),
                    _ => {
                        sink.error(
                            loc,
                            "group",
                            "'group' only supports the 'users' option, followed by a comma-separated list of users",
                        );
                        continue;
                    }
                };
                if list.groups.iter().any(|x| x == g) {
                    sink.warn(
                        Severity::Warning,
                        loc,
                        "group",
                        format!("ignoring duplicated group '{g}' in userlist '{name}'"),
                    );
                    continue;
                }
                list.groups.push(g.to_string());
                members.push((loc.clone(), g.to_string(), users));
            }
            "user" => {
                if let Some(u) = user(line, name, &list, sink) {
                    list.users.push(u);
                }
            }
            "" => {}
            other => sink.error(
                loc,
                other,
                format!("unknown keyword '{other}' in a 'userlist' section (expected 'user' or 'group')"),
            ),
        }
    }
    for u in &list.users {
        for g in &u.groups {
            if !list.groups.contains(g) {
                sink.error(
                    location,
                    "userlist",
                    format!(
                        "userlist '{name}': no such group '{g}' specified in user '{}'",
                        u.name
                    ),
                );
            }
        }
    }
    for (loc, g, users) in members {
        for n in users {
            match list.users.iter_mut().find(|u| u.name == n) {
                Some(u) => {
                    if !u.groups.contains(&g) {
                        u.groups.push(g.clone());
                    }
                }
                None => sink.error(
                    &loc,
                    "group",
                    format!("userlist '{name}': no such user '{n}' specified in group '{g}'"),
                ),
            }
        }
    }
    lists.push(list);
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// `user NAME [password HASH | insecure-password TEXT] [groups G1,G2...]`
fn user(line: &Line, list_name: &str, list: &Userlist, sink: &mut Sink) -> Option<User> {
    let loc = &line.location;
    let n = line.word(1);
    if n.is_empty() {
        sink.error(loc, "user", "'user' expects a user name");
        return None;
    }
    let mut u = User {
        name: n.to_string(),
        password: None,
        groups: Vec::new(),
    };
    let mut i = 2;
    while i < line.words.len() {
        let (opt, value) = (line.word(i), line.words.get(i + 1));
        let known = matches!(opt, "password" | "insecure-password" | "groups");
        let Some(value) = value.filter(|_| known) else {
            let message = if known {
                format!("'{opt}' expects a value")
            } else {
                "'user' only supports 'password', 'insecure-password' and 'groups' options"
                    .to_string()
            };
            sink.error(loc, "user", message);
            return None;
        };
        match opt {
            "password" => {
                if !known_hash(value) {
                    sink.error(
                        loc,
                        "user",
                        format!("user '{n}': password hash scheme not supported by fulcrum (supported crypt(3) schemes: MD5 '$1$', bcrypt '$2a$'/'$2b$'/'$2y$', SHA-256 '$5$', SHA-512 '$6$', DES)"),
                    );
                    return None;
                }
                u.password = Some(Password::Crypt(value.clone()));
            }
            "insecure-password" => u.password = Some(Password::Insecure(value.clone())),
            "groups" => u.groups.extend(split_list(value)),
            _ => {
                sink.error(
                    loc,
                    "user",
                    "'user' only supports 'password', 'insecure-password' and 'groups' options",
                );
                return None;
            }
        }
        i += 2;
    }
    if list.users.iter().any(|x| x.name == n) {
        sink.warn(
            Severity::Warning,
            loc,
            "user",
            format!("ignoring duplicated user '{n}' in userlist '{list_name}'"),
        );
        return None;
    }
    Some(u)
}

/// Checks that every `http_auth(NAME)` and `http_auth_group(NAME)` ACL names a userlist that exists, and that
/// the groups `http_auth_group` looks for are declared in it (HAProxy refuses the configuration otherwise).
pub fn check_references(proxies: &[super::model::Proxy], lists: &[Userlist], sink: &mut Sink) {
    use super::model::{Acl, Condition, Sample};
    fn check(acl: &Acl, lists: &[Userlist], sink: &mut Sink) {
        let (name, groups) = match &acl.sample {
            Sample::HttpAuth(n) => (n, false),
            Sample::HttpAuthGroup(n) => (n, true),
            _ => return,
        };
        let Some(list) = lists.iter().find(|l| &l.name == name) else {
            sink.error(
                &acl.location,
                &acl.fetch,
                format!("unable to find userlist '{name}'"),
            );
            return;
        };
        if groups {
            for g in &acl.patterns {
                if !list.groups.contains(g) {
                    sink.error(
                        &acl.location,
                        &acl.fetch,
                        format!("group '{g}' is not declared in userlist '{name}'"),
                    );
                }
            }
        }
    }
    for p in proxies {
        let r = &p.rules;
        let mut acls: Vec<&Acl> = r.acls.iter().collect();
        let mut conds: Vec<&Condition> = Vec::new();
        conds.extend(r.use_backends.iter().filter_map(|u| u.cond.as_ref()));
        conds.extend(r.http_request.iter().filter_map(|u| u.cond.as_ref()));
        conds.extend(r.http_response.iter().filter_map(|u| u.cond.as_ref()));
        conds.extend(r.http_after_response.iter().filter_map(|u| u.cond.as_ref()));
        conds.extend(r.tcp_connection.iter().filter_map(|u| u.cond.as_ref()));
        conds.extend(r.tcp_content.iter().filter_map(|u| u.cond.as_ref()));
        for c in conds {
            for term in c.any_of.iter().flatten() {
                acls.extend(term.acls.iter());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for a in acls {
            // An ACL is reported once, however many conditions use it.
            if seen.insert((a.location.to_string(), a.name.clone(), a.fetch.clone())) {
                check(a, lists, sink);
            }
        }
    }
}
