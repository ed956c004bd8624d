//! TLS options of `bind` lines and their `global` defaults (`ssl-default-bind-*`, `crt-base`, `ca-base`,
//! `tune.ssl.*`). Only the words are checked here; certificates are read and cipher names mapped when the proxy
//! builds its TLS configuration (crate `fulcrum-tls`), which reports problems with the bind line's location.

use std::path::PathBuf;
use std::time::Duration;

use super::common::{Line, Sink};
use crate::diag::Severity;
use crate::Location;

/// A protocol version as HAProxy names it in `ssl-min-ver` / `ssl-max-ver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `SSLv3`
    SslV3,
    /// `TLSv1.0`
    Tls10,
    /// `TLSv1.1`
    Tls11,
    /// `TLSv1.2`
    Tls12,
    /// `TLSv1.3`
    Tls13,
}

impl TlsVersion {
    /// Every version, oldest first.
    pub const ALL: [TlsVersion; 5] = [
        TlsVersion::SslV3,
        TlsVersion::Tls10,
        TlsVersion::Tls11,
        TlsVersion::Tls12,
        TlsVersion::Tls13,
    ];

    /// Parses HAProxy's spelling (`SSLv3`, `TLSv1.0` ... `TLSv1.3`).
    pub fn parse(s: &str) -> Option<TlsVersion> {
        Some(match s {
            "SSLv3" => TlsVersion::SslV3,
            "TLSv1.0" => TlsVersion::Tls10,
            "TLSv1.1" => TlsVersion::Tls11,
            "TLSv1.2" => TlsVersion::Tls12,
            "TLSv1.3" => TlsVersion::Tls13,
            _ => return None,
        })
    }

    /// HAProxy's spelling.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::SslV3 => "SSLv3",
            TlsVersion::Tls10 => "TLSv1.0",
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }

    /// The suffix of its `no-*` / `force-*` options (`sslv3`, `tlsv10` ...).
    fn option_suffix(self) -> &'static str {
        match self {
            TlsVersion::SslV3 => "sslv3",
            TlsVersion::Tls10 => "tlsv10",
            TlsVersion::Tls11 => "tlsv11",
            TlsVersion::Tls12 => "tlsv12",
            TlsVersion::Tls13 => "tlsv13",
        }
    }
}

/// `verify none|optional|required`: whether a client certificate is asked for and must be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// No certificate is asked for (HAProxy's default on `bind`).
    #[default]
    None,
    /// A certificate is asked for; a client without one is let in, one with a bad one is refused.
    Optional,
    /// A valid certificate is required.
    Required,
}

/// The options a `bind` line and `ssl-default-bind-options` share: each is `None` when not written, so a bind
/// line's own setting wins over the global default and the default over the built-in one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslOptions {
    /// `ssl-min-ver`
    pub min_ver: Option<TlsVersion>,
    /// `ssl-max-ver`
    pub max_ver: Option<TlsVersion>,
    /// `no-sslv3`, `no-tlsv10` ... `no-tlsv13`
    pub disabled: Vec<TlsVersion>,
    /// `force-sslv3` ... `force-tlsv13`
    pub force: Option<TlsVersion>,
    /// `no-tls-tickets`
    pub no_tls_tickets: bool,
    /// `prefer-client-ciphers`
    pub prefer_client_ciphers: bool,
    /// `strict-sni`
    pub strict_sni: bool,
    /// `ciphers`: TLS 1.2 cipher list in OpenSSL's syntax.
    pub ciphers: Option<String>,
    /// `ciphersuites`: TLS 1.3 suites in OpenSSL's syntax.
    pub ciphersuites: Option<String>,
    /// `curves` (or the single `ecdhe` curve)
    pub curves: Option<String>,
}

impl SslOptions {
    /// These options over `defaults`: a value written here wins, flags add up.
    pub fn over(&self, defaults: &SslOptions) -> SslOptions {
        let mut disabled = defaults.disabled.clone();
        disabled.extend(self.disabled.iter().copied());
        disabled.sort();
        disabled.dedup();
        SslOptions {
            min_ver: self.min_ver.or(defaults.min_ver),
            max_ver: self.max_ver.or(defaults.max_ver),
            disabled,
            force: self.force.or(defaults.force),
            no_tls_tickets: self.no_tls_tickets || defaults.no_tls_tickets,
            prefer_client_ciphers: self.prefer_client_ciphers || defaults.prefer_client_ciphers,
            strict_sni: self.strict_sni || defaults.strict_sni,
            ciphers: self.ciphers.clone().or_else(|| defaults.ciphers.clone()),
            ciphersuites: self
                .ciphersuites
                .clone()
                .or_else(|| defaults.ciphersuites.clone()),
            curves: self.curves.clone().or_else(|| defaults.curves.clone()),
        }
    }
}

/// The TLS part of a `bind` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindSsl {
    /// `ssl`: TLS is terminated on this listener. Certificates named without it are still loaded and checked, as
    /// HAProxy does, but the listener speaks clear text.
    pub enabled: bool,
    /// `crt FILE|DIR` in the order written (relative paths are taken under `crt-base`).
    pub crts: Vec<PathBuf>,
    /// `crt-list FILE`: certificates with their own options and server-name filters, one per line.
    pub crt_lists: Vec<PathBuf>,
    /// `alpn LIST`: protocols offered by ALPN, in order.
    pub alpn: Vec<String>,
    /// `ca-file FILE` (relative paths are taken under `ca-base`).
    pub ca_file: Option<PathBuf>,
    /// `crl-file FILE`
    pub crl_file: Option<PathBuf>,
    /// `ca-verify-file FILE`: more CAs client certificates may chain to, not named to clients in the
    /// certificate request (those of `ca-file` are).
    pub ca_verify_file: Option<PathBuf>,
    /// `allow-0rtt`: TLS 1.3 early data accepted (fulcrum reads it and makes full handshakes: see the TLS
    /// build's warning).
    pub allow_0rtt: bool,
    /// `verify`
    pub verify: Option<Verify>,
    /// `ca-ignore-err all|ID,...`: client-certificate verification errors on the chain above the certificate
    /// (depth > 0) that do not refuse the handshake (`ssl_c_ca_err` reports them).
    pub ca_ignore_err: Option<IgnoreErr>,
    /// `crt-ignore-err all|ID,...`: errors on the client's own certificate (depth 0) that do not refuse the
    /// handshake (`ssl_c_err` reports them).
    pub crt_ignore_err: Option<IgnoreErr>,
    /// `generate-certificates`: a client whose server name no certificate serves gets one made for that name,
    /// signed by the CA of `ca-sign-file`.
    pub generate_certificates: bool,
    /// `ca-sign-file FILE`: the CA certificate and its private key (in the file or in `FILE.key`) that sign the
    /// generated certificates (relative paths are taken under `ca-base`). Read only with `generate-certificates`,
    /// as HAProxy does.
    pub ca_sign_file: Option<PathBuf>,
    /// The options shared with `ssl-default-bind-options`.
    pub options: SslOptions,
}

/// The verification errors a `ca-ignore-err` / `crt-ignore-err` list lets through: every one, or these OpenSSL
/// X509 error numbers (1 to 94, as HAProxy 2.6 takes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreErr {
    All,
    Ids(Vec<u8>),
}

impl IgnoreErr {
    /// Whether error `id` is let through.
    pub fn ignores(&self, id: u8) -> bool {
        match self {
            IgnoreErr::All => true,
            IgnoreErr::Ids(ids) => ids.contains(&id),
        }
    }

    /// Parses `all` or a comma-separated list of numbers 1-94; the error names the first bad item.
    pub fn parse(list: &str) -> Result<IgnoreErr, String> {
        if list == "all" {
            return Ok(IgnoreErr::All);
        }
        let mut ids = Vec::new();
        for item in list.split(',') {
            match item.parse::<u8>() {
                Ok(n @ 1..=94) => ids.push(n),
                _ => {
                    return Err(format!(
                        "ID '{item}' out of range (1..94) in error IDs list '{list}'"
                    ))
                }
            }
        }
        Ok(IgnoreErr::Ids(ids))
    }
}

/// The TLS options of a `server` or `default-server` line, as written: `None` when not given here, so that a
/// server line's own setting wins over its `default-server` line's (flags like `no-sslv3` add up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSsl {
    /// `ssl` / `no-ssl`: traffic to the server goes over TLS.
    pub enabled: Option<bool>,
    /// `verify none|required`; without it, `ssl-server-verify` (required by default).
    pub verify: Option<Verify>,
    /// `ca-file FILE`: the CAs a server certificate must chain to (under `ca-base`).
    pub ca_file: Option<PathBuf>,
    /// `crl-file FILE`: revocation lists the server's certificate chain is checked against (under `ca-base`).
    pub crl_file: Option<PathBuf>,
    /// `crt FILE`: the client certificate (and key) shown to the server (under `crt-base`).
    pub crt: Option<PathBuf>,
    /// `sni EXPR`: the server name sent, a sample expression evaluated per connection (as written).
    pub sni: Option<String>,
    /// `verifyhost NAME`: the name the server certificate must carry (instead of the SNI); `no-verifyhost`
    /// clears an inherited one (`Some("")`).
    pub verifyhost: Option<String>,
    /// `alpn LIST`: protocols offered by ALPN.
    pub alpn: Option<Vec<String>>,
    /// `no-ssl-reuse` / `ssl-reuse`: whether TLS sessions are resumed towards the server.
    pub reuse: Option<bool>,
    /// `check-ssl` / `no-check-ssl`: health checks over TLS.
    pub check_ssl: Option<bool>,
    /// `check-sni NAME`: the server name sent by health checks.
    pub check_sni: Option<String>,
    /// `check-alpn LIST`: protocols offered by ALPN by health checks.
    pub check_alpn: Option<Vec<String>>,
    /// Versions, cipher lists and tickets (over `ssl-default-server-*`).
    pub options: SslOptions,
    /// `ssl` or `check-ssl` was written (here or on the `default-server` line), even if a later `no-ssl` turned
    /// it off: the server has TLS settings the runtime API's `set server ... ssl on` can use.
    pub prepared: bool,
}

impl ServerSsl {
    /// `self` with every option given in `over` replaced by it.
    pub fn overlay(&self, over: &ServerSsl) -> ServerSsl {
        ServerSsl {
            enabled: over.enabled.or(self.enabled),
            verify: over.verify.or(self.verify),
            ca_file: over.ca_file.clone().or_else(|| self.ca_file.clone()),
            crl_file: over.crl_file.clone().or_else(|| self.crl_file.clone()),
            crt: over.crt.clone().or_else(|| self.crt.clone()),
            sni: over.sni.clone().or_else(|| self.sni.clone()),
            verifyhost: over.verifyhost.clone().or_else(|| self.verifyhost.clone()),
            alpn: over.alpn.clone().or_else(|| self.alpn.clone()),
            reuse: over.reuse.or(self.reuse),
            check_ssl: over.check_ssl.or(self.check_ssl),
            check_sni: over.check_sni.clone().or_else(|| self.check_sni.clone()),
            check_alpn: over.check_alpn.clone().or_else(|| self.check_alpn.clone()),
            options: over.options.over(&self.options),
            prepared: self.prepared || over.prepared,
        }
    }
}

/// Parses the TLS option at `line.words[i]` of a `server` or `default-server` line into `s`.
pub fn server_option(s: &mut ServerSsl, line: &Line, i: usize, sink: &mut Sink) -> Parsed {
    let loc = &line.location;
    let opt = line.word(i);
    let arg = line.words.get(i + 1).map(String::as_str);
    let kw = format!("{} {opt}", line.word(0));
    let value = |sink: &mut Sink, what: &str| match arg.filter(|a| !a.is_empty()) {
        Some(a) => Some(a.to_string()),
        None => {
            sink.error(loc, &kw, format!("'{opt}' expects {what}"));
            None
        }
    };
    let flag = |slot: &mut Option<bool>, v: bool| {
        *slot = Some(v);
        Parsed::Took(0)
    };
    if matches!(opt, "ssl" | "check-ssl") {
        s.prepared = true;
    }
    match opt {
        "ssl" | "no-ssl" => flag(&mut s.enabled, opt == "ssl"),
        "ssl-reuse" | "no-ssl-reuse" => flag(&mut s.reuse, opt == "ssl-reuse"),
        "check-ssl" | "no-check-ssl" => flag(&mut s.check_ssl, opt == "check-ssl"),
        "tls-tickets" => {
            s.options.no_tls_tickets = false;
            Parsed::Took(0)
        }
        "no-verifyhost" => {
            s.verifyhost = Some(String::new());
            Parsed::Took(0)
        }
        "ca-file" | "crl-file" | "crt" => match value(sink, "a file") {
            Some(p) => {
                let slot = match opt {
                    "ca-file" => &mut s.ca_file,
                    "crl-file" => &mut s.crl_file,
                    _ => &mut s.crt,
                };
                *slot = Some(PathBuf::from(p));
                Parsed::Took(1)
            }
            None => Parsed::Bad(1),
        },
        "verifyhost" | "check-sni" => match value(sink, "a host name") {
            Some(v) => {
                if opt == "verifyhost" {
                    s.verifyhost = Some(v);
                } else {
                    s.check_sni = Some(v);
                }
                Parsed::Took(1)
            }
            None => Parsed::Bad(1),
        },
        "sni" => match value(sink, "a sample expression") {
            Some(v) => match fulcrum_sample::Expr::parse(&v) {
                Ok(_) => {
                    s.sni = Some(v);
                    Parsed::Took(1)
                }
                Err(e) => {
                    sink.error(loc, &kw, format!("'sni': invalid expression '{v}': {e}"));
                    Parsed::Bad(1)
                }
            },
            None => Parsed::Bad(1),
        },
        "verify" => {
            let v = match arg {
                Some("none") => Verify::None,
                Some("required") => Verify::Required,
                other => {
                    sink.error(
                        loc,
                        &kw,
                        format!(
                            "'verify': unknown verify method '{}', only 'none' and 'required' are supported",
                            other.unwrap_or("")
                        ),
                    );
                    return Parsed::Bad(1);
                }
            };
            s.verify = Some(v);
            Parsed::Took(1)
        }
        "alpn" | "check-alpn" => match value(sink, "a comma-separated protocol list") {
            Some(a) => match alpn_list(&a) {
                Ok(names) => {
                    if opt == "alpn" {
                        s.alpn = Some(names);
                    } else {
                        s.check_alpn = Some(names);
                    }
                    Parsed::Took(1)
                }
                Err(e) => {
                    sink.error(loc, &kw, e);
                    Parsed::Bad(1)
                }
            },
            None => Parsed::Bad(1),
        },
        // Bind-only words of the shared options.
        "strict-sni" | "prefer-client-ciphers" | "curves" | "ecdhe" => Parsed::No,
        _ => option(&mut s.options, line, i, sink),
    }
}

/// An `alpn` list: protocol names separated by commas, each 1 to 255 bytes long.
fn alpn_list(a: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = a.split(',').map(str::to_string).collect();
    match names.iter().find(|n| n.is_empty() || n.len() > 255) {
        Some(bad) => Err(format!(
            "'alpn': protocol name '{bad}' must be 1 to 255 bytes long"
        )),
        None => Ok(names),
    }
}

/// The TLS settings of the `global` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalSsl {
    /// `crt-base DIR`
    pub crt_base: Option<PathBuf>,
    /// `ca-base DIR`
    pub ca_base: Option<PathBuf>,
    /// `ssl-default-bind-options`, `-ciphers`, `-ciphersuites`, `-curves`.
    pub bind_defaults: SslOptions,
    /// `ssl-default-server-options`, `-ciphers`, `-ciphersuites`.
    pub server_defaults: SslOptions,
    /// `ssl-server-verify none|required`: the default of `verify` on server lines (`required`).
    pub server_verify: Option<Verify>,
    /// `tune.ssl.cachesize N`: sessions kept for resumption (HAProxy's default 20000; 0 disables the cache).
    pub cachesize: Option<u32>,
    /// `tune.ssl.lifetime TIME`: how long a session may be resumed (HAProxy's default 300 s).
    pub lifetime: Option<Duration>,
    /// `tune.ssl.maxrecord N`: the most plaintext bytes per TLS record written (`None`, and 0: TLS's own 16 KiB).
    pub max_record: Option<u32>,
    /// `ssl-skip-self-issued-ca`: a self-issued CA (a root) in a certificate file's chain is not sent.
    pub skip_self_issued_ca: bool,
    /// `issuers-chain-path DIR`: chains (PEM files) that complete a bind line's certificate that came without one,
    /// when the first certificate of a chain issued it.
    pub issuers_chain_path: Option<PathBuf>,
    /// `tune.ssl.ssl-ctx-cache-size N`: certificates made by `generate-certificates` kept for reuse, least
    /// recently used dropped first (HAProxy's default 1000; 0 keeps none).
    pub ctx_cache_size: Option<u32>,
    /// `ssl-load-extra-del-ext`: a certificate file's companions (`.key`, `.ocsp` ...) are named after the file
    /// without its `.crt` extension (`site.crt` has `site.key`), rather than after the whole name
    /// (`site.crt.key`).
    pub extra_del_ext: bool,
    /// `ssl-dh-param-file FILE` and the line naming it: the file must hold DH parameters (checked when the TLS
    /// settings are built), which fulcrum's TLS library, having no finite-field DHE suites, does not use.
    pub dh_param_file: Option<(PathBuf, Location)>,
    /// `ssl-load-extra-files`: which companions of a certificate file are looked for (all by default).
    pub extra_files: ExtraFiles,
}

/// The files HAProxy looks for beside a certificate file (`ssl-load-extra-files`): its key (`FILE.key`) when the
/// PEM has none, its OCSP response (`FILE.ocsp`), its issuer (`FILE.issuer`, for the OCSP response), its signed
/// certificate timestamps (`FILE.sctl`) and multi-certificate bundles (`FILE.rsa`, `FILE.ecdsa` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraFiles {
    /// `key`
    pub key: bool,
    /// `ocsp`
    pub ocsp: bool,
    /// `issuer`
    pub issuer: bool,
    /// `sctl`
    pub sctl: bool,
    /// `bundle`
    pub bundle: bool,
}

impl Default for ExtraFiles {
    /// `all`, HAProxy's default.
    fn default() -> ExtraFiles {
        ExtraFiles::all()
    }
}

impl ExtraFiles {
    /// `all`
    pub const fn all() -> ExtraFiles {
        ExtraFiles {
            key: true,
            ocsp: true,
            issuer: true,
            sctl: true,
            bundle: true,
        }
    }

    /// `none`: only the files the configuration names.
    pub const fn none() -> ExtraFiles {
        ExtraFiles {
            key: false,
            ocsp: false,
            issuer: false,
            sctl: false,
            bundle: false,
        }
    }
}

impl GlobalSsl {
    /// `tune.ssl.cachesize`, 20000 by default.
    pub fn cachesize(&self) -> u32 {
        self.cachesize.unwrap_or(20000)
    }

    /// `tune.ssl.ssl-ctx-cache-size`, 1000 by default.
    pub fn ctx_cache_size(&self) -> u32 {
        self.ctx_cache_size.unwrap_or(1000)
    }

    /// `tune.ssl.lifetime`, 300 s by default.
    pub fn lifetime(&self) -> Duration {
        self.lifetime.unwrap_or(Duration::from_secs(300))
    }
}

/// What a TLS option word did.
pub enum Parsed {
    /// Not a TLS option.
    No,
    /// A TLS option that took `n` arguments after it.
    Took(usize),
    /// A TLS option with a problem (already recorded).
    Bad(usize),
}

/// Parses the shared option at `line.words[i]` into `o`.
pub fn option(o: &mut SslOptions, line: &Line, i: usize, sink: &mut Sink) -> Parsed {
    let loc = &line.location;
    let opt = line.word(i);
    let arg = line.words.get(i + 1).map(String::as_str);
    let kw = match line.word(0) {
        w @ ("server" | "default-server") => format!("{w} {opt}"),
        _ => format!("bind {opt}"),
    };
    match opt {
        "ssl-min-ver" | "ssl-max-ver" => match arg.and_then(TlsVersion::parse) {
            Some(v) => {
                if opt == "ssl-min-ver" {
                    o.min_ver = Some(v);
                } else {
                    o.max_ver = Some(v);
                }
                Parsed::Took(1)
            }
            None => {
                sink.error(
                    loc,
                    &kw,
                    format!(
                        "'{opt}' expects one of SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3, found '{}'",
                        arg.unwrap_or("")
                    ),
                );
                Parsed::Bad(1)
            }
        },
        "no-tls-tickets" => {
            o.no_tls_tickets = true;
            Parsed::Took(0)
        }
        "prefer-client-ciphers" => {
            o.prefer_client_ciphers = true;
            Parsed::Took(0)
        }
        "strict-sni" => {
            o.strict_sni = true;
            Parsed::Took(0)
        }
        "ciphers" | "ciphersuites" | "curves" | "ecdhe" => match arg.filter(|a| !a.is_empty()) {
            Some(a) => {
                let v = Some(a.to_string());
                match opt {
                    "ciphers" => o.ciphers = v,
                    "ciphersuites" => o.ciphersuites = v,
                    _ => o.curves = v,
                }
                Parsed::Took(1)
            }
            None => {
                sink.error(loc, &kw, format!("'{opt}' expects a list"));
                Parsed::Bad(1)
            }
        },
        _ => {
            for v in TlsVersion::ALL {
                if opt.strip_prefix("no-") == Some(v.option_suffix()) {
                    o.disabled.push(v);
                    return Parsed::Took(0);
                }
                if opt.strip_prefix("force-") == Some(v.option_suffix()) {
                    o.force = Some(v);
                    return Parsed::Took(0);
                }
            }
            Parsed::No
        }
    }
}

/// Parses the TLS option at `line.words[i]` of a `bind` line into `b`.
pub fn bind_option(b: &mut BindSsl, line: &Line, i: usize, sink: &mut Sink) -> Parsed {
    let loc = &line.location;
    let opt = line.word(i);
    let arg = line.words.get(i + 1).map(String::as_str);
    let kw = format!("bind {opt}");
    let path = |sink: &mut Sink, what: &str| match arg.filter(|a| !a.is_empty()) {
        Some(a) => Some(PathBuf::from(a)),
        None => {
            sink.error(loc, &kw, format!("'{opt}' expects {what}"));
            None
        }
    };
    match opt {
        "ssl" => {
            b.enabled = true;
            Parsed::Took(0)
        }
        "crt" => match path(sink, "a certificate file or directory") {
            Some(p) => {
                b.crts.push(p);
                Parsed::Took(1)
            }
            None => Parsed::Bad(1),
        },
        "crt-list" => match path(sink, "a certificate list file") {
            Some(p) => {
                b.crt_lists.push(p);
                Parsed::Took(1)
            }
            None => Parsed::Bad(1),
        },
        "ca-file" | "crl-file" | "ca-verify-file" => match path(sink, "a file") {
            Some(p) => {
                match opt {
                    "ca-file" => b.ca_file = Some(p),
                    "crl-file" => b.crl_file = Some(p),
                    _ => b.ca_verify_file = Some(p),
                }
                Parsed::Took(1)
            }
            None => Parsed::Bad(1),
        },
        "allow-0rtt" => {
            b.allow_0rtt = true;
            Parsed::Took(0)
        }
        "generate-certificates" => {
            b.generate_certificates = true;
            Parsed::Took(0)
        }
        "ca-sign-file" => match arg.filter(|a| !a.is_empty()) {
            Some(a) => {
                b.ca_sign_file = Some(PathBuf::from(a));
                Parsed::Took(1)
            }
            None => {
                sink.error(loc, &kw, "'ca-sign-file' : missing CAfile path");
                Parsed::Bad(1)
            }
        },
        // HAProxy 2.6 takes the word but never uses it (an encrypted CA key is asked for on the terminal, then
        // refused); fulcrum reads unencrypted CA keys only, and says so rather than dropping the word silently.
        "ca-sign-pass" => match arg.filter(|a| !a.is_empty()) {
            Some(_) => {
                sink.warn(
                    crate::diag::Severity::Warning,
                    loc,
                    &kw,
                    "'ca-sign-pass' is not used: the CA key of 'ca-sign-file' must be unencrypted (as haproxy 2.6 reads it too)",
                );
                Parsed::Took(1)
            }
            None => {
                sink.error(loc, &kw, "'ca-sign-pass' : missing CAkey password");
                Parsed::Bad(1)
            }
        },
        "ca-ignore-err" | "crt-ignore-err" => {
            let Some(list) = arg.filter(|a| !a.is_empty()) else {
                sink.error(loc, &kw, format!("'{opt}' : missing error IDs list"));
                return Parsed::Bad(1);
            };
            match IgnoreErr::parse(list) {
                Ok(v) => {
                    if opt == "ca-ignore-err" {
                        b.ca_ignore_err = Some(v);
                    } else {
                        b.crt_ignore_err = Some(v);
                    }
                    Parsed::Took(1)
                }
                Err(e) => {
                    sink.error(loc, &kw, format!("'{opt}' : {e}"));
                    Parsed::Bad(1)
                }
            }
        }
        "verify" => {
            let v = match arg {
                Some("none") => Verify::None,
                Some("optional") => Verify::Optional,
                Some("required") => Verify::Required,
                other => {
                    sink.error(
                        loc,
                        &kw,
                        format!(
                            "'verify' expects 'none', 'optional' or 'required', found '{}'",
                            other.unwrap_or("")
                        ),
                    );
                    return Parsed::Bad(1);
                }
            };
            b.verify = Some(v);
            Parsed::Took(1)
        }
        "alpn" => match arg.filter(|a| !a.is_empty()) {
            Some(a) => match alpn_list(a) {
                Ok(names) => {
                    b.alpn = names;
                    Parsed::Took(1)
                }
                Err(e) => {
                    sink.error(loc, &kw, e);
                    Parsed::Bad(1)
                }
            },
            None => {
                sink.error(loc, &kw, "'alpn' expects a comma-separated protocol list");
                Parsed::Bad(1)
            }
        },
        "npn" => {
            sink.error(
                loc,
                &kw,
                "'npn' (the pre-ALPN Next Protocol Negotiation) is not offered by fulcrum's TLS library: use 'alpn'",
            );
            Parsed::Bad(1)
        }
        _ => option(&mut b.options, line, i, sink),
    }
}

/// Checks a `bind` line's TLS settings once the line is read, as HAProxy does.
pub fn check_bind(b: &BindSsl, loc: &Location, sink: &mut Sink) -> bool {
    let mut ok = true;
    if b.enabled && b.crts.is_empty() && b.crt_lists.is_empty() {
        sink.error(
            loc,
            "bind ssl",
            "no SSL certificate specified for this 'ssl' bind line (use 'crt')",
        );
        ok = false;
    }
    if matches!(b.verify, Some(Verify::Optional | Verify::Required))
        && b.ca_file.is_none()
        && b.ca_verify_file.is_none()
    {
        sink.error(
            loc,
            "bind verify",
            "verify is enabled but no CA file specified ('ca-file')",
        );
        ok = false;
    }
    if b.generate_certificates && b.ca_sign_file.is_none() {
        sink.error(
            loc,
            "bind generate-certificates",
            "cannot enable certificate generation, no CA certificate File configured ('ca-sign-file')",
        );
        ok = false;
    }
    if !b.enabled && (!b.crts.is_empty() || !b.crt_lists.is_empty() || b.ca_file.is_some()) {
        sink.warn(
            crate::diag::Severity::Warning,
            loc,
            "bind crt",
            "certificates are loaded but this bind line has no 'ssl': it serves clear text",
        );
    }
    ok
}

/// Applies a TLS keyword of the `global` section; false when `kw` is not one.
pub fn global_keyword(g: &mut GlobalSsl, line: &Line, sink: &mut Sink) -> bool {
    let loc = &line.location;
    let kw = line.word(0);
    let arg = line.words.get(1).map(String::as_str);
    match kw {
        "crt-base" | "ca-base" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.filter(|a| !a.is_empty()) {
                    Some(a) => {
                        let v = Some(PathBuf::from(a));
                        if kw == "crt-base" {
                            g.crt_base = v;
                        } else {
                            g.ca_base = v;
                        }
                    }
                    None => sink.error(loc, kw, "expects a directory"),
                }
            }
        }
        "ssl-dh-param-file" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.filter(|a| !a.is_empty()) {
                    Some(a) => {
                        g.dh_param_file = Some((PathBuf::from(a), loc.clone()));
                        sink.warn(
                            Severity::Warning,
                            loc,
                            kw,
                            "fulcrum's TLS library offers no finite-field Diffie-Hellman (DHE) cipher suites: the \
                             file is checked but its parameters are not used, clients agree on ECDHE",
                        );
                    }
                    None => sink.error(loc, kw, "expects a file path"),
                }
            }
        }
        "ssl-load-extra-files" => match extra_files(&line.words[1..]) {
            Ok(files) => g.extra_files = files,
            Err(e) => sink.error(loc, kw, e),
        },
        "issuers-chain-path" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.map(PathBuf::from).filter(|p| p.is_dir()) {
                    Some(dir) => g.issuers_chain_path = Some(dir),
                    None => sink.error(
                        loc,
                        kw,
                        "global statement 'issuers-chain-path' expects a directory path as an argument.",
                    ),
                }
            }
        }
        "ssl-load-extra-del-ext" => {
            if sink.max_args(line, kw, 1, 0) {
                g.extra_del_ext = true;
            }
        }
        "ssl-skip-self-issued-ca" => {
            if sink.max_args(line, kw, 1, 0) {
                g.skip_self_issued_ca = true;
            }
        }
        "ssl-server-verify" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some("none") => g.server_verify = Some(Verify::None),
                    Some("required") => g.server_verify = Some(Verify::Required),
                    other => sink.error(
                        loc,
                        kw,
                        format!(
                            "expects 'none' or 'required', found '{}'",
                            other.unwrap_or("")
                        ),
                    ),
                }
            }
        }
        "ssl-default-bind-options" | "ssl-default-server-options" => {
            let defaults = if kw == "ssl-default-bind-options" {
                &mut g.bind_defaults
            } else {
                &mut g.server_defaults
            };
            let mut i = 1;
            while i < line.words.len() {
                match option(defaults, line, i, sink) {
                    Parsed::Took(n) | Parsed::Bad(n) => i += n + 1,
                    Parsed::No => {
                        sink.error(loc, kw, format!("unknown option '{}'", line.word(i)));
                        i += 1;
                    }
                }
            }
        }
        "ssl-default-bind-ciphers"
        | "ssl-default-bind-ciphersuites"
        | "ssl-default-bind-curves"
        | "ssl-default-server-ciphers"
        | "ssl-default-server-ciphersuites" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.filter(|a| !a.is_empty()) {
                    Some(a) => {
                        let v = Some(a.to_string());
                        match kw {
                            "ssl-default-bind-ciphers" => g.bind_defaults.ciphers = v,
                            "ssl-default-bind-ciphersuites" => g.bind_defaults.ciphersuites = v,
                            "ssl-default-bind-curves" => g.bind_defaults.curves = v,
                            "ssl-default-server-ciphers" => g.server_defaults.ciphers = v,
                            _ => g.server_defaults.ciphersuites = v,
                        }
                    }
                    None => sink.error(loc, kw, "expects a list"),
                }
            }
        }
        // rustls offers no finite-field Diffie-Hellman, so there is no DH parameter to size.
        "tune.ssl.default-dh-param" => {
            if sink.max_args(line, kw, 1, 1) {
                let _ = sink.uint(loc, kw, arg, 1024, 16384);
            }
        }
        // The buffer HAProxy keeps of each ClientHello for the `ssl_fc_cipherlist_*` / `ssl_fc_*list_bin`
        // fetches, which fulcrum does not offer (refused where used): the size is checked, nothing is kept.
        "tune.ssl.capture-buffer-size" | "tune.ssl.capture-cipherlist-size" => {
            if sink.max_args(line, kw, 1, 1) {
                let _ = sink.uint(loc, kw, arg, 0, 65535);
            }
        }
        "tune.ssl.cachesize" | "tune.ssl.ssl-ctx-cache-size" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, u64::from(u32::MAX)) {
                    if kw == "tune.ssl.cachesize" {
                        g.cachesize = Some(n as u32);
                    } else {
                        g.ctx_cache_size = Some(n as u32);
                    }
                }
            }
        }
        // HAProxy passes at most N bytes to each SSL_write; rustls cuts its records at that many plaintext bytes,
        // with a floor of 32. Above TLS's maximum record (16 KiB) it changes nothing.
        "tune.ssl.maxrecord" => {
            if sink.max_args(line, kw, 1, 1) {
                match sink.uint(loc, kw, arg, 0, u64::from(u32::MAX)) {
                    Some(n @ 1..=31) => sink.error(
                        loc,
                        kw,
                        format!(
                            "{n} bytes per record is below what fulcrum's TLS library writes (32 at least; 0 \
                             leaves records at TLS's maximum)"
                        ),
                    ),
                    Some(n) => g.max_record = (n > 0 && n < 16384).then_some(n as u32),
                    None => {}
                }
            }
        }
        "tune.ssl.lifetime" => {
            if sink.max_args(line, kw, 1, 1) {
                // A bare number counts seconds here, as HAProxy reads this keyword.
                let arg = arg.map(|a| {
                    if !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) {
                        format!("{a}s")
                    } else {
                        a.to_string()
                    }
                });
                if let Some(d) = sink.time(loc, kw, arg.as_deref()) {
                    g.lifetime = Some(d);
                }
            }
        }
        _ => return false,
    }
    true
}

/// The options of one `crt-list` line (the words between `[` and `]`), parsed as a bind line's; `file:line` name
/// the list's line in messages. Options that only make sense for a whole bind line are refused.
pub fn crt_list_options(words: &[String], file: &str, line: usize) -> Result<BindSsl, Vec<String>> {
    let location = Location::new(file, line);
    let mut all = vec!["bind".to_string(), "-".to_string()];
    all.extend(words.iter().cloned());
    let l = Line {
        location: location.clone(),
        words: all,
    };
    let mut sink = Sink::default();
    let mut b = BindSsl::default();
    let mut i = 2;
    while i < l.words.len() {
        let w = l.word(i);
        if matches!(
            w,
            "ssl"
                | "crt"
                | "crt-list"
                | "strict-sni"
                | "no-tls-tickets"
                | "prefer-client-ciphers"
                | "generate-certificates"
                | "ca-sign-file"
                | "ca-sign-pass"
        ) {
            sink.error(
                &location,
                "crt-list",
                format!("'{w}' applies to a whole bind line, not to one crt-list line"),
            );
            i += 1;
            continue;
        }
        match bind_option(&mut b, &l, i, &mut sink) {
            Parsed::Took(n) | Parsed::Bad(n) => i += n + 1,
            Parsed::No => {
                sink.error(&location, "crt-list", format!("unknown option '{w}'"));
                i += 1;
            }
        }
    }
    if sink.diags.is_empty() {
        Ok(b)
    } else {
        Err(sink.diags.iter().map(ToString::to_string).collect())
    }
}

/// The companions `ssl-load-extra-files WORDS` asks for, or HAProxy's complaint.
fn extra_files(words: &[String]) -> Result<ExtraFiles, &'static str> {
    if words.is_empty() {
        return Err(EXTRA_FILES_USAGE);
    }
    let mut files = ExtraFiles::none();
    for w in words {
        match w.as_str() {
            "none" | "all" if words.len() > 1 => {
                return Err("'ssl-load-extra-files' 'none' and 'all' can be only used alone")
            }
            "none" => files = ExtraFiles::none(),
            "all" => files = ExtraFiles::all(),
            "key" => files.key = true,
            "ocsp" => files.ocsp = true,
            "issuer" => files.issuer = true,
            "sctl" => files.sctl = true,
            "bundle" => files.bundle = true,
            _ => return Err(EXTRA_FILES_USAGE),
        }
    }
    Ok(files)
}

const EXTRA_FILES_USAGE: &str =
    "'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer).";
