//! The distinguished-name fetches (`ssl_c_s_dn`, `ssl_c_i_dn`, `ssl_s_*_dn`, `ssl_f_*_dn`) with their
//! arguments, over a context that hands out the DER of the names as the proxy does. Expected values observed
//! with haproxy 2.6.12 on a certificate with the same subject (`/C=FR/O=Org+OU=Unit A/CN=x"y\z<>;`, the
//! organization and unit in one RDN) and arguments checked with `haproxy -c`.

use std::time::SystemTime;

use fulcrum_sample::{Context, Error, Expr, SslFetch, Value};

fn atv(oid: &[u8], v: &[u8]) -> Vec<u8> {
    let mut seq = vec![0x06, oid.len() as u8];
    seq.extend_from_slice(oid);
    seq.extend([0x0c, v.len() as u8]);
    seq.extend_from_slice(v);
    let mut s = vec![0x30, seq.len() as u8];
    s.extend(seq);
    s
}

fn set(members: &[Vec<u8>]) -> Vec<u8> {
    let body = members.concat();
    let mut s = vec![0x31, body.len() as u8];
    s.extend(body);
    s
}

fn subject() -> Vec<u8> {
    [
        set(&[atv(&[0x55, 4, 6], b"FR")]),
        set(&[atv(&[0x55, 4, 10], b"Org"), atv(&[0x55, 4, 11], b"Unit A")]),
        set(&[atv(&[0x55, 4, 3], b"x\"y\\z<>;")]),
    ]
    .concat()
}

fn issuer() -> Vec<u8> {
    set(&[atv(&[0x55, 4, 3], b"Test CA")])
}

/// A client connection whose client certificate has [`subject`] and [`issuer`]; the server connection's
/// certificate has them swapped; the frontend's own certificate has the issuer's name on both.
struct Tls {
    subject: Vec<u8>,
    issuer: Vec<u8>,
}

impl Context for Tls {
    fn ssl(&self, f: SslFetch) -> Option<Value<'_>> {
        let name = match f {
            SslFetch::CSDn => &self.subject,
            SslFetch::CIDn | SslFetch::FSDn | SslFetch::FIDn => &self.issuer,
            _ => return None,
        };
        Some(Value::Bin(name.as_slice().into()))
    }
    fn ssl_backend(&self, f: SslFetch) -> Option<Value<'_>> {
        let name = match f {
            SslFetch::SSDn => &self.issuer,
            SslFetch::SIDn => &self.subject,
            _ => return None,
        };
        Some(Value::Bin(name.as_slice().into()))
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }
    fn random_u32(&self) -> u32 {
        0
    }
}

fn eval(expr: &str) -> Option<String> {
    let ctx = Tls {
        subject: subject(),
        issuer: issuer(),
    };
    let e = Expr::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    e.eval_to_string(&ctx)
        .map(|s| String::from_utf8_lossy(&s).into_owned())
}

#[test]
fn names_whole_and_by_attribute() {
    assert_eq!(
        eval("ssl_c_s_dn").as_deref(),
        Some("/C=FR/O=Org/OU=Unit A/CN=x\"y\\z<>;")
    );
    assert_eq!(eval("ssl_c_i_dn").as_deref(), Some("/CN=Test CA"));
    assert_eq!(
        eval("ssl_c_s_dn(,0,rfc2253)").as_deref(),
        Some("CN=x\\\"y\\\\z\\<\\>\\;,OU=Unit A+O=Org,C=FR")
    );
    // An empty entry is the whole name, whatever the occurrence; a blank format the default form.
    assert_eq!(
        eval("ssl_c_s_dn(,1)").as_deref(),
        Some("/C=FR/O=Org/OU=Unit A/CN=x\"y\\z<>;")
    );
    assert_eq!(
        eval("ssl_c_s_dn(,0,)").as_deref(),
        Some("/C=FR/O=Org/OU=Unit A/CN=x\"y\\z<>;")
    );
    assert_eq!(eval("ssl_c_s_dn(CN)").as_deref(), Some("x\"y\\z<>;"));
    // The format does not apply to one attribute's value.
    assert_eq!(
        eval("ssl_c_s_dn(CN,1,rfc2253)").as_deref(),
        Some("x\"y\\z<>;")
    );
    assert_eq!(eval("ssl_c_s_dn(OU,-1)").as_deref(), Some("Unit A"));
    assert_eq!(eval("ssl_c_s_dn(OU,0)"), None);
    assert_eq!(eval("ssl_c_s_dn(OU,2)"), None);
    assert_eq!(eval("ssl_c_s_dn(CN),lower").as_deref(), Some("x\"y\\z<>;"));
    // The server connection's and the frontend's certificates.
    assert_eq!(eval("ssl_s_s_dn(CN)").as_deref(), Some("Test CA"));
    assert_eq!(
        eval("ssl_s_i_dn(,0,rfc2253)").as_deref(),
        Some("CN=x\\\"y\\\\z\\<\\>\\;,OU=Unit A+O=Org,C=FR")
    );
    assert_eq!(eval("ssl_f_s_dn").as_deref(), Some("/CN=Test CA"));
    assert_eq!(eval("ssl_f_i_dn(CN)").as_deref(), Some("Test CA"));
    assert!(Expr::parse("ssl_s_s_dn").unwrap().needs().server_conn);
    assert!(!Expr::parse("ssl_f_s_dn(CN)").unwrap().needs().server_conn);
}

#[test]
fn bad_arguments_are_refused_as_haproxy_refuses_them() {
    let err = |e: &str| {
        Expr::parse(e)
            .err()
            .unwrap_or_else(|| panic!("{e} was accepted"))
    };
    assert!(
        matches!(
            err("ssl_c_s_dn(CN,1,foo)"),
            Error::BadArg { position: 3, .. }
        ),
        "{:?}",
        err("ssl_c_s_dn(CN,1,foo)")
    );
    // The format is case-sensitive.
    assert!(matches!(
        err("ssl_c_s_dn(,0,RFC2253)"),
        Error::BadArg { position: 3, .. }
    ));
    assert!(matches!(
        err("ssl_c_s_dn(CN,x)"),
        Error::BadArg { position: 2, .. }
    ));
    assert!(matches!(
        err("ssl_c_s_dn(CN,1,rfc2253,4)"),
        Error::TooManyArgs { .. }
    ));
    assert!(matches!(err("ssl_c_der(1)"), Error::TooManyArgs { .. }));
    assert!(matches!(err("ssl_f_sha1(x)"), Error::TooManyArgs { .. }));
    for ok in [
        "ssl_c_chain_der",
        "ssl_s_chain_der",
        "ssl_c_notafter",
        "ssl_s_notbefore",
        "ssl_f_notafter",
        "ssl_c_sig_alg",
        "ssl_s_key_alg",
        "ssl_f_version",
        "ssl_f_der,hex",
        "ssl_f_serial,hex",
    ] {
        Expr::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}
