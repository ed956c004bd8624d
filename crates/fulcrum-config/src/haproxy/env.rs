//! `setenv`, `presetenv`, `unsetenv` and `resetenv` (global): they change the environment that the `$VAR` /
//! `${VAR}` expansions and `.if defined(VAR)` of the lines after them see, in file order, as HAProxy applies them
//! while it reads the file. The process environment itself is left alone (a configuration that fails to load
//! changes nothing): the changes are an overlay over the lookup the parser was given.

use std::collections::HashMap;

/// The environment as seen by the lines read so far.
pub struct EnvOverlay<'a> {
    base: &'a dyn Fn(&str) -> Option<String>,
    /// Variables set (`Some`) or removed (`None`) by the configuration.
    changed: HashMap<String, Option<String>>,
    /// After `resetenv`: the base environment is hidden, only `changed` remains.
    base_hidden: bool,
}

impl<'a> EnvOverlay<'a> {
    /// No change yet over `base`.
    pub fn new(base: &'a dyn Fn(&str) -> Option<String>) -> Self {
        EnvOverlay {
            base,
            changed: HashMap::new(),
            base_hidden: false,
        }
    }

    /// The value of `name` now.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.changed.get(name) {
            Some(v) => v.clone(),
            None if self.base_hidden => None,
            None => (self.base)(name),
        }
    }

    /// Whether `kw` is one of the keywords [`EnvOverlay::apply`] handles.
    pub fn is_env_keyword(kw: &str) -> bool {
        matches!(kw, "setenv" | "presetenv" | "unsetenv" | "resetenv")
    }

    /// Applies one `setenv NAME VALUE`, `presetenv NAME VALUE`, `unsetenv NAME...` or `resetenv [NAME...]` line
    /// (its words, keyword first). Errors are HAProxy's.
    pub fn apply(&mut self, words: &[String]) -> Result<(), String> {
        let kw = words.first().map(String::as_str).unwrap_or_default();
        let args = &words[1.min(words.len())..];
        match kw {
            "setenv" | "presetenv" => {
                let [name, value, ..] = args else {
                    return Err(format!("'{kw}' expects a name and a value."));
                };
                if kw == "setenv" || self.get(name).is_none() {
                    self.changed.insert(name.clone(), Some(value.clone()));
                }
            }
            "unsetenv" => {
                if args.is_empty() {
                    return Err("'unsetenv' expects at least one variable name.".into());
                }
                for name in args {
                    self.changed.insert(name.clone(), None);
                }
            }
            "resetenv" => {
                let kept: HashMap<String, Option<String>> = args
                    .iter()
                    .map(|name| (name.clone(), self.get(name)))
                    .collect();
                self.changed = kept;
                self.base_hidden = true;
            }
            _ => return Err(format!("'{kw}' is not an environment keyword")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn changes_apply_in_order_over_the_base() {
        let base = |n: &str| match n {
            "HOME" => Some("/root".to_string()),
            "USER" => Some("root".to_string()),
            _ => None,
        };
        let mut e = EnvOverlay::new(&base);
        assert_eq!(e.get("HOME").as_deref(), Some("/root"));
        e.apply(&words("setenv P 1")).unwrap();
        e.apply(&words("presetenv P 2")).unwrap();
        e.apply(&words("presetenv Q 3")).unwrap();
        e.apply(&words("presetenv HOME /x")).unwrap();
        assert_eq!(e.get("P").as_deref(), Some("1"));
        assert_eq!(e.get("Q").as_deref(), Some("3"));
        assert_eq!(e.get("HOME").as_deref(), Some("/root"));
        e.apply(&words("unsetenv Q HOME")).unwrap();
        assert_eq!(e.get("Q"), None);
        assert_eq!(e.get("HOME"), None);
        e.apply(&words("setenv HOME /h")).unwrap();
        // resetenv keeps the names it lists, with their current values, and nothing else.
        e.apply(&words("resetenv P HOME")).unwrap();
        assert_eq!(e.get("P").as_deref(), Some("1"));
        assert_eq!(e.get("HOME").as_deref(), Some("/h"));
        assert_eq!(e.get("USER"), None);
        e.apply(&words("setenv USER u")).unwrap();
        assert_eq!(e.get("USER").as_deref(), Some("u"));
        assert!(e.apply(&words("setenv X")).is_err());
        assert!(e.apply(&words("presetenv")).is_err());
        assert!(e.apply(&words("unsetenv")).is_err());
        assert!(e.apply(&words("resetenv")).is_ok());
        assert_eq!(e.get("P"), None);
    }
}
