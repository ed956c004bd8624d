//! The DER readers behind `show ssl cert NAME` and the `ssl_c_*_dn` fetches: certificate details and
//! distinguished names, from any bytes, without panicking; a name that reads prints as `/K=V...`.
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
});
