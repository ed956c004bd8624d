//! The TLS configuration of every `bind` line and of every `server ... ssl`, built once when the proxy starts (and
//! by `fulcrum proxy -c`): certificates read, names indexed, cipher names mapped. A problem is an error naming the
//! line.

use std::sync::Arc;

use fulcrum_config::haproxy::{Config, Proxy, Server};
use fulcrum_tls::client::ClientIdentity;
use fulcrum_tls::rustls::ClientConfig;
use fulcrum_tls::server::ServerTls;
use fulcrum_tls::store::CertStore;
use tracing::warn;

use crate::model::error::{RulesError, StartError};

/// The TLS settings of one frontend's bind lines, in order (`None` for a clear-text line).
pub type FrontendTls = Vec<Option<Arc<ServerTls>>>;

/// Builds the TLS settings of `proxy`'s bind lines, keeping their certificates in `store`; what is ignored with
/// a warning (a cipher with no counterpart, an OCSP response that does not check) is added to `warnings`, each
/// naming its line.
pub fn frontend(
    config: &Config,
    proxy: &Proxy,
    store: &Arc<CertStore>,
    warnings: &mut Vec<String>,
) -> Result<FrontendTls, StartError> {
    proxy
        .binds
        .iter()
        .map(|bind| {
            let ssl = &bind.ssl;
            if !ssl.enabled && ssl.crts.is_empty() && ssl.crt_lists.is_empty() {
                return Ok(None);
            }
            let error = |message: String| StartError::Tls {
                location: bind.location.to_string(),
                proxy: proxy.name.clone(),
                message,
            };
            let built = fulcrum_tls::server::bind_config(ssl, &config.global.ssl, store)
                .map_err(|e| error(e.to_string()))?;
            for w in &built.warnings {
                warnings.push(format!(
                    "{}: 'bind' in proxy '{}': {w}",
                    bind.location, proxy.name
                ));
            }
            built.tls.set_location(&bind.location.to_string());
            // Certificates named without `ssl` are loaded and checked, as HAProxy does, but not served.
            Ok(ssl.enabled.then(|| Arc::new(built.tls)))
        })
        .collect()
}

/// The TLS settings of every frontend, the store of their certificates and the warnings given while building them.
pub type AllTls = (Vec<FrontendTls>, Arc<CertStore>, Vec<String>);

/// Builds the TLS settings of every frontend (in the order of `config.proxies`' frontends), and the store of
/// their certificates the runtime API can change; the warnings name their lines.
pub fn all(config: &Config) -> Result<AllTls, StartError> {
    if let Some((file, location)) = &config.global.ssl.dh_param_file {
        fulcrum_tls::dh::check_file(file).map_err(|e| StartError::GlobalTls {
            location: location.to_string(),
            keyword: "ssl-dh-param-file",
            message: e.to_string(),
        })?;
    }
    let (opts, mut warnings) =
        fulcrum_tls::certs::LoadOptions::of(&config.global.ssl).with_issuers(&config.global.ssl);
    let store = CertStore::with_load_options(
        Arc::new(fulcrum_tls::rustls::crypto::aws_lc_rs::default_provider()),
        opts,
    );
    let tls = config
        .proxies
        .iter()
        .filter(|p| p.kind.has_frontend())
        .map(|p| frontend(config, p, &store, &mut warnings))
        .collect::<Result<_, _>>()?;
    Ok((tls, store, warnings))
}

/// The TLS configuration towards a server, and its client certificate and trust for the runtime API's store.
pub type ServerTlsBuilt = (
    Option<Arc<ClientConfig>>,
    Option<Arc<ClientIdentity>>,
    Option<Arc<fulcrum_tls::server_trust::ServerTrust>>,
);

/// Builds the TLS configuration towards `server` of backend `proxy`, when its traffic or its checks use TLS.
pub fn server(
    config: &Config,
    proxy: &Proxy,
    server: &Server,
) -> Result<ServerTlsBuilt, RulesError> {
    let Some(tls) = &server.tls else {
        return Ok((None, None, None));
    };
    let error = |message: String| RulesError::ServerTls {
        location: server.location.to_string(),
        server: format!("{}/{}", proxy.name, server.name),
        message,
    };
    let built = fulcrum_tls::client::server_config(tls, &config.global.ssl)
        .map_err(|e| error(e.to_string()))?;
    for w in &built.warnings {
        warn!(location = %server.location, server = %format!("{}/{}", proxy.name, server.name), "{w}");
    }
    Ok((Some(built.config), built.identity, built.trust))
}

/// The TLS settings of one `peers` section: its listener's (`bind ... ssl crt ...`) and its connections' to
/// each peer (`server NAME ADDR ssl ...`, by peer name; the local peer's for the hand-over of a reload).
#[derive(Default)]
pub struct PeersTls {
    /// The listener's, when its bind line has `ssl`.
    pub accept: Option<Arc<ServerTls>>,
    /// Per peer name (the local one's too), the client configuration of the peers connected to over TLS.
    pub connect: std::collections::HashMap<String, Arc<ClientConfig>>,
}

/// Builds the TLS settings of `peers`, keeping the listener's certificates in `store` (shown by the runtime
/// API's `show ssl cert` with the bind lines'); its warnings are added to `warnings`, each naming its line.
pub fn peers(
    config: &Config,
    peers: &fulcrum_config::haproxy::Peers,
    store: &Arc<CertStore>,
    warnings: &mut Vec<String>,
) -> Result<PeersTls, StartError> {
    let error = |location: &fulcrum_config::Location, keyword: &'static str, message: String| {
        StartError::PeersTls {
            location: location.to_string(),
            keyword,
            section: peers.name.clone(),
            message,
        }
    };
    let mut out = PeersTls::default();
    if let Some(bind) = peers.bind.as_ref().filter(|b| b.ssl.enabled) {
        let built = fulcrum_tls::server::bind_config(&bind.ssl, &config.global.ssl, store)
            .map_err(|e| error(&bind.location, "bind", e.to_string()))?;
        for w in &built.warnings {
            warnings.push(format!(
                "{}: 'bind' in peers '{}': {w}",
                bind.location, peers.name
            ));
        }
        built.tls.set_location(&bind.location.to_string());
        out.accept = Some(Arc::new(built.tls));
    }
    let remote = peers
        .peers
        .iter()
        .filter_map(|p| p.tls.as_ref().map(|t| (&p.name, t, &p.location)));
    let local = peers.local_tls.as_ref().map(|t| {
        let at = peers.local_location.as_ref().unwrap_or(&peers.location);
        (&peers.local, t, at)
    });
    for (name, tls, location) in remote.chain(local) {
        let built = fulcrum_tls::client::server_config(tls, &config.global.ssl)
            .map_err(|e| error(location, "server", format!("peer '{name}': {e}")))?;
        for w in &built.warnings {
            warnings.push(format!(
                "{location}: 'server' in peers '{}': peer '{name}': {w}",
                peers.name
            ));
        }
        out.connect.insert(name.clone(), built.config);
    }
    Ok(out)
}
