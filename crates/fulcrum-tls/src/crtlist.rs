//! `crt-list FILE`: one certificate per line, `PATH [[OPTIONS...]] [[!]SNI-FILTER...]`, `#` comments. The
//! options (between brackets) are those of a bind line, for the handshakes this certificate answers; the filters
//! replace the certificate's own names (wildcards allowed), `!name` excludes a name.

use std::path::{Path, PathBuf};

use fulcrum_config::haproxy::ssl::{crt_list_options, BindSsl};

use crate::TlsError;

/// One line of a certificate list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The certificate file (relative paths are taken under `crt-base`).
    pub file: PathBuf,
    /// Its own options, when the line has a `[...]` block.
    pub options: Option<BindSsl>,
    /// The names it serves, when the line names some.
    pub filters: Vec<String>,
    /// The names it must not serve.
    pub deny: Vec<String>,
    /// Its line number in the file.
    pub line: usize,
    /// The words of its `[...]` block, as written (`show ssl crt-list`).
    pub options_text: Option<String>,
    /// Its filters in the order written, `!names` among them (`show ssl crt-list`, as HAProxy prints them).
    pub written: Vec<String>,
}

impl Entry {
    /// Its filters as the line writes them, `!names` among them, in their order.
    pub fn written_filters(&self) -> Vec<String> {
        self.written.clone()
    }
}

/// Reads a certificate list.
pub fn load(path: &Path) -> Result<Vec<Entry>, TlsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TlsError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string()).map_err(TlsError::Settings)
}

/// Parses the text of a certificate list named `name` (for messages).
pub fn parse(text: &str, name: &str) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{name}:{}", n + 1);
        let mut words = line.split_whitespace();
        let Some(file) = words.next() else { continue };
        let mut rest: Vec<&str> = words.collect();
        let mut options = None;
        let mut options_text = None;
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest
                .iter()
                .position(|w| w.ends_with(']'))
                .ok_or_else(|| format!("{at}: '[' without its ']'"))?;
            let inside: Vec<String> = rest[..=end]
                .iter()
                .map(|w| w.trim_start_matches('[').trim_end_matches(']').to_string())
                .filter(|w| !w.is_empty())
                .collect();
            rest.drain(..=end);
            options_text = Some(inside.join(" "));
            options = Some(crt_list_options(&inside, name, n + 1).map_err(|e| e.join("\n"))?);
        }
        let mut filters = Vec::new();
        let mut deny = Vec::new();
        let mut written = Vec::new();
        for f in rest {
            written.push(f.to_ascii_lowercase());
            match f.strip_prefix('!') {
                Some(d) if !d.is_empty() => deny.push(d.to_ascii_lowercase()),
                Some(_) => return Err(format!("{at}: '!' without a name")),
                None => filters.push(f.to_ascii_lowercase()),
            }
        }
        out.push(Entry {
            file: PathBuf::from(file),
            options,
            filters,
            deny,
            line: n + 1,
            options_text,
            written,
        });
    }
    if out.is_empty() {
        return Err(format!("{name}: no certificate in the list"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_options_and_filters() {
        let e = parse(
            "# comment\n\n/c/a.pem\n/c/b.pem [alpn http/1.1 ssl-min-ver TLSv1.3] *.b.test !secret.b.test\nc.pem [verify none]\n",
            "l.txt",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].file, PathBuf::from("/c/a.pem"));
        assert!(e[0].options.is_none() && e[0].filters.is_empty());
        let o = e[1].options.as_ref().unwrap_or_else(|| panic!("options"));
        assert_eq!(o.alpn, vec!["http/1.1".to_string()]);
        assert_eq!(e[1].filters, vec!["*.b.test".to_string()]);
        assert_eq!(e[1].deny, vec!["secret.b.test".to_string()]);
        let w =
            parse("/c/a.pem !no.test *.test # note\n", "l.txt").unwrap_or_else(|e| panic!("{e}"));
        // Printed back in the order written, as HAProxy prints them.
        assert_eq!(w[0].written_filters(), ["!no.test", "*.test", "#", "note"]);
        assert!(e[2].options.is_some());
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = parse("/a.pem [alpn h2\n", "l.txt").unwrap_err();
        assert!(e.contains("l.txt:1"), "{e}");
        let e = parse("/a.pem\n/b.pem [frobnicate]\n", "l.txt").unwrap_err();
        assert!(e.contains("l.txt:2") && e.contains("frobnicate"), "{e}");
        let e = parse("/a.pem [strict-sni]\n", "l.txt").unwrap_err();
        assert!(e.contains("whole bind line"), "{e}");
        assert!(parse("# nothing\n", "l.txt").is_err());
    }
}
