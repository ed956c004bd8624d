//! The rate estimator behind `-L --rate`: CPS, in/out packets and bytes per second from two readings
//! of the counters.
//!
//! IPVS keeps a kernel estimator (a moving average over a few seconds). fulcrum's data plane has only
//! counters, so `ipvsadm -L --rate` on a live data plane reads the table twice, [`SAMPLE`] apart, and
//! prints the difference divided by the time between the readings: an exact average over that second,
//! without smoothing. The listing therefore takes about a second. Counters that went down in between
//! (`-Z`, a service re-created) give 0.

use crate::model::{Rates, Stats, Table};
use std::time::Duration;

/// Time between the two readings.
pub const SAMPLE: Duration = Duration::from_secs(1);

fn per_second(before: u64, after: u64, ms: u128) -> u64 {
    let d = u128::from(after.saturating_sub(before));
    u64::try_from(d * 1000 / ms.max(1)).unwrap_or(u64::MAX)
}

fn rates(before: &Stats, after: &Stats, ms: u128) -> Rates {
    Rates {
        cps: per_second(before.conns, after.conns, ms),
        inpps: per_second(before.inpkts, after.inpkts, ms),
        outpps: per_second(before.outpkts, after.outpkts, ms),
        inbps: per_second(before.inbytes, after.inbytes, ms),
        outbps: per_second(before.outbytes, after.outbytes, ms),
    }
}

/// Fills `after`'s rates from the counters of `before` and `after`, read `elapsed` apart. Services and
/// real servers are matched by key and address; entries new since `before` get rates from zero.
pub fn estimate(before: &Table, after: &mut Table, elapsed: Duration) {
    let ms = elapsed.as_millis();
    for s in &mut after.services {
        let old = before.services.iter().find(|o| o.key == s.key);
        let zero = Stats::default();
        s.observed.rates = rates(
            old.map_or(&zero, |o| &o.observed.stats),
            &s.observed.stats,
            ms,
        );
        for d in &mut s.dests {
            let od = old.and_then(|o| {
                o.dests
                    .iter()
                    .find(|x| x.addr == d.addr && x.port == d.port)
            });
            d.observed.rates = rates(
                od.map_or(&zero, |x| &x.observed.stats),
                &d.observed.stats,
                ms,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;

    #[test]
    fn differences_per_second() {
        let lines = [
            "S 0 tcp/198.19.0.100/80 rr 0 0 m255.255.255.255 -",
            "R 0 0 198.18.1.2 8080 m 1 0 0 ipip 0 n",
        ];
        let mut a = record::decode(lines).unwrap_or_default();
        let mut b = a.clone();
        a.services[0].dests[0].observed.stats.inpkts = 100;
        b.services[0].dests[0].observed.stats.inpkts = 600;
        b.services[0].observed.stats = Stats {
            conns: 20,
            inpkts: 500,
            outpkts: 400,
            inbytes: 50_000,
            outbytes: 4,
        };
        estimate(&a, &mut b, Duration::from_millis(500));
        assert_eq!(
            b.services[0].observed.rates,
            Rates {
                cps: 40,
                inpps: 1000,
                outpps: 800,
                inbps: 100_000,
                outbps: 8
            }
        );
        assert_eq!(b.services[0].dests[0].observed.rates.inpps, 1000);
        // Zeroed counters give 0, not a wrap.
        let c = b.clone();
        estimate(&c, &mut a, Duration::from_secs(1));
        assert_eq!(a.services[0].dests[0].observed.rates.inpps, 0);
    }
}
