//! `fulcrum genhash`: keepalived's genhash. Fetches a page with the `HTTP_GET` / `SSL_GET` probe code and
//! prints the MD5 digest of its body, the value a `url` block's `digest` expects.
//!
//! Flags are genhash's: `-s` server address, `-p` port, `-u` path, `-S` TLS, `-I` SNI, `-V` virtual host,
//! `-P` protocol (1.0, 1.0C, 1.1), `-t` timeout in seconds, `-v` verbose. The last line printed is the
//! digest as 32 lowercase hex digits; `-v` first prints the request, the response header and the body
//! size. Like genhash, the status code is shown but not judged. Exit status 0 when a digest was printed,
//! 1 when the page could not be fetched, 2 for a usage error.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use fulcrum_health::keepalived::{
    ConnectOptions, HttpGetCheck, HttpGetSpec, HttpProtocol, TlsOptions, UrlSpec,
};

/// Options of `fulcrum genhash` (keepalived genhash's flags).
#[derive(Args, Debug)]
pub struct GenhashArgs {
    /// Use TLS to connect to the server (as SSL_GET does, without verifying its certificate).
    #[arg(short = 'S', long = "use-ssl")]
    use_ssl: bool,
    /// With -S, send the virtual host (-V) as SNI in the handshake.
    #[arg(short = 'I', long = "use-sni", requires = "use_ssl")]
    use_sni: bool,
    /// IP address of the server.
    #[arg(short = 's', long = "server")]
    server: IpAddr,
    /// Port of the server.
    #[arg(short = 'p', long = "port")]
    port: u16,
    /// Path of the page to hash.
    #[arg(short = 'u', long = "url")]
    url: String,
    /// Host header to send [default: the server's address and port].
    #[arg(short = 'V', long = "use-virtualhost")]
    virtualhost: Option<String>,
    /// HTTP version: 1.0, 1.0C (1.0 with "Connection: close") or 1.1.
    #[arg(short = 'P', long = "protocol", default_value = "1.0")]
    protocol: HttpProtocol,
    /// Seconds allowed for the connection and for each wait for the server [default: no limit].
    #[arg(short = 't', long = "timeout", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Also print the request, the response header and the body size.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

/// Largest body hashed (it is hashed as it arrives, not kept).
const MAX_BODY: usize = 1 << 30;

/// Runs `fulcrum genhash`; returns the exit code.
pub fn main(args: GenhashArgs) -> u8 {
    match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("genhash: {e}");
            1
        }
    }
}

fn run(args: &GenhashArgs) -> Result<(), String> {
    let timeout = args.timeout.map_or(
        Duration::from_secs(u64::from(u32::MAX)),
        Duration::from_secs,
    );
    let check = HttpGetCheck::new(HttpGetSpec {
        urls: vec![UrlSpec::new(args.url.clone())],
        virtualhost: args.virtualhost.clone(),
        protocol: args.protocol,
        tls: args.use_ssl.then_some(TlsOptions {
            enable_sni: args.use_sni,
            sni_name: None,
        }),
        connect: ConnectOptions::with_timeout(timeout),
        max_body: MAX_BODY,
    })
    .map_err(|e| e.to_string())?;
    let target = SocketAddr::new(args.server, args.port);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let page = runtime
        .block_on(check.fetch(target, 0, false))
        .map_err(|e| format!("{target}{}: {e}", args.url))?;
    let mut out = std::io::stdout().lock();
    let mut print = || -> std::io::Result<()> {
        if args.verbose {
            let scheme = if args.use_ssl { "https" } else { "http" };
            writeln!(out, "Request ({scheme}, {target}):")?;
            out.write_all(&check.request(0, target))?;
            writeln!(out, "Response header:")?;
            out.write_all(&page.head)?;
            writeln!(out, "Status: {}", page.status)?;
            writeln!(out, "Body: {} bytes", page.body_len)?;
            writeln!(out, "MD5 digest of the body:")?;
        }
        writeln!(out, "{}", page.digest_hex())?;
        out.flush()
    };
    print().map_err(|e| format!("cannot write the output: {e}"))
}
