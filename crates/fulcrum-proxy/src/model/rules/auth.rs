//! `userlist` sections at run time: the Basic credentials of a request (`Authorization: Basic ...`) checked
//! against a list's users, for the `http_auth(LIST)` and `http_auth_group(LIST)` ACLs.

use std::collections::HashMap;

use base64::Engine;
use fulcrum_config::haproxy::{Password, Userlist};

/// One userlist, ready to check credentials.
#[derive(Debug, Default)]
pub struct Users {
    /// By name: the password (none: the user cannot authenticate) and the groups.
    users: HashMap<String, (Option<Password>, Vec<String>)>,
}

impl Users {
    /// Builds a userlist's table.
    pub fn new(list: &Userlist) -> Users {
        Users {
            users: list
                .users
                .iter()
                .map(|u| (u.name.clone(), (u.password.clone(), u.groups.clone())))
                .collect(),
        }
    }

    /// The groups of `user` when `pass` is its password; `None` otherwise (unknown user, wrong password).
    pub fn check(&self, user: &str, pass: &str) -> Option<&[String]> {
        let (password, groups) = self.users.get(user)?;
        let ok = match password.as_ref()? {
            Password::Insecure(p) => p == pass,
            Password::Crypt(hash) => pwhash::unix::verify(pass, hash),
        };
        ok.then_some(groups.as_slice())
    }
}

/// The user and password of an `Authorization: Basic BASE64(user:password)` header value; `None` for another
/// scheme or a value that does not decode.
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_config::haproxy::User;

    fn list() -> Users {
        let user = |name: &str, password: Password, groups: &[&str]| User {
            name: name.into(),
            password: Some(password),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        Users::new(&Userlist {
            name: "L".into(),
            groups: vec!["G1".into(), "G2".into()],
            location: fulcrum_config::Location::new("t.cfg", 1),
            users: vec![
                user("plain", Password::Insecure("secret".into()), &["G1"]),
                // crypt(3) of "pw" with salt "saltsalt", as glibc computes it.
                user("sha512", Password::Crypt("$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/".into()), &["G2"]),
                user("sha256", Password::Crypt("$5$saltsalt$0rl.MZtoLLPP3X0Rdl8riRnphIcAXJY27/aOAyK2hB5".into()), &[]),
                user("md5", Password::Crypt("$1$saltsalt$6SNdNaZLKst2LlSm7oPPL1".into()), &["G1", "G2"]),
            ],
        })
    }

    #[test]
    fn passwords_in_clear_and_crypt_hashes() {
        let l = list();
        assert_eq!(l.check("plain", "secret"), Some(&["G1".to_string()][..]));
        assert_eq!(l.check("plain", "Secret"), None);
        assert!(l.check("sha512", "pw").is_some());
        assert!(l.check("sha512", "px").is_none());
        assert!(l.check("sha256", "pw").is_some());
        assert_eq!(l.check("md5", "pw").map(<[String]>::len), Some(2));
        assert!(l.check("md5", "").is_none());
        assert!(l.check("nobody", "pw").is_none());
    }

    #[test]
    fn basic_header_values() {
        // "alice:open:sesame" -> the password may hold ':'
        assert_eq!(
            basic_credentials("Basic YWxpY2U6b3BlbjpzZXNhbWU="),
            Some(("alice".into(), "open:sesame".into()))
        );
        assert_eq!(
            basic_credentials("basic  YWxpY2U6b3BlbjpzZXNhbWU= "),
            Some(("alice".into(), "open:sesame".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Basic YWxpY2U="), None);
    }
}
