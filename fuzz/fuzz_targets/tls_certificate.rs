//! The DER readers behind `show ssl cert NAME`, `show ssl ocsp-response` and the `ssl_c_*_dn` fetches:
//! certificate details, OCSP responses and distinguished names, from any bytes, without panicking; a name that
//! reads prints as `/K=V...`, a response that reads starts with its title.
#![no_main]

use fulcrum_tls::dn;
use fulcrum_tls::info::CertInfo;
use fulcrum_tls::rustls::pki_types::CertificateDer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = CertInfo::of(&CertificateDer::from(data));
    if let Some(s) = dn::oneline(data) {
        assert!(s.is_empty() || s.starts_with('/'));
    }
    let _ = dn::common_names(data);
    if let Some(t) = fulcrum_tls::ocsp_text::describe(data) {
        assert!(t.starts_with("OCSP Response Data:\n"));
    }
    let _ = fulcrum_tls::ocsp_text::cert_ids(data);
});
