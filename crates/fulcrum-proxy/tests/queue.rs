//! Server maxconn, the backend queue, maxqueue and timeout queue through a real proxy.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn listen(extra: &str, servers: &str) -> Proxy {
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
{extra}
{servers}",
        free_port()
    );
    start_proxy(&cfg)
}

fn concurrent(
    p: &Proxy,
    paths: &[&'static str],
    stagger: Duration,
) -> Vec<(u16, Duration, String)> {
    let addr = p.addr;
    let start = Instant::now();
    let handles: Vec<_> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let path = *path;
            std::thread::spawn(move || {
                std::thread::sleep(stagger * i as u32);
                let r = get(addr, path);
                (r.status, start.elapsed(), served_by(&r))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn maxconn_queues_requests_instead_of_exceeding_it() {
    let o = origins(1);
    let p = listen("    timeout queue 5s", &server_lines(&o, "maxconn 1"));
    let results = concurrent(
        &p,
        &["/sleep/300", "/sleep/300", "/sleep/300"],
        Duration::from_millis(20),
    );
    assert!(results.iter().all(|r| r.0 == 200), "{results:?}");
    // One at a time: the last one finishes after three sleeps.
    let last = results.iter().map(|r| r.1).max().unwrap();
    assert!(
        last >= Duration::from_millis(850),
        "requests overlapped: {results:?}"
    );
    // The time they waited is measured (`show stat`'s `qtime` and `qtime_max`): the third about two sleeps.
    let snap = p.running.as_ref().unwrap().snapshot();
    let be = &snap.backends[0];
    for (what, q) in [
        ("backend", be.stats.timings.queue.snapshot()),
        ("server", be.servers[0].stats.timings.queue.snapshot()),
    ] {
        assert_eq!(q.count, 3, "{what}: {q:?}");
        assert!(
            (450_000..3_000_000).contains(&q.max_us),
            "{what}: longest wait {} us",
            q.max_us
        );
    }
}

#[test]
fn queue_timeout_answers_503() {
    let o = origins(1);
    let p = listen("    timeout queue 200ms", &server_lines(&o, "maxconn 1"));
    let results = concurrent(
        &p,
        &["/sleep/1000", "/sleep/10"],
        Duration::from_millis(100),
    );
    assert_eq!(results[0].0, 200, "{results:?}");
    assert_eq!(results[1].0, 503, "{results:?}");
    // Answered when the queue timeout expired, long before the slot was released.
    assert!(results[1].1 < Duration::from_millis(800), "{results:?}");
}

#[test]
fn a_full_server_queue_redispatches_to_another_server() {
    // balance uri binds every request for one path to one server: they wait in that server's queue, which holds
    // `maxqueue 1`; the next one is redispatched to the other server, as HAProxy does.
    let o = origins(2);
    let p = listen(
        "    balance uri\n    timeout queue 5s",
        &server_lines(&o, "maxconn 1 maxqueue 1"),
    );
    let results = concurrent(
        &p,
        &["/sleep/800", "/sleep/800", "/sleep/800"],
        Duration::from_millis(150),
    );
    assert!(results.iter().all(|r| r.0 == 200), "{results:?}");
    let mut counts = [o[0].requests(), o[1].requests()];
    counts.sort_unstable();
    assert_eq!(counts, [1, 2], "{results:?}");
    // The redispatched third request finished before the queued second one.
    assert!(results[2].1 < results[1].1, "{results:?}");
}

#[test]
fn a_bound_request_times_out_in_its_server_queue() {
    let o = origins(2);
    let p = listen(
        "    balance uri\n    timeout queue 200ms",
        &server_lines(&o, "maxconn 1"),
    );
    let results = concurrent(
        &p,
        &["/sleep/1000", "/sleep/1000"],
        Duration::from_millis(100),
    );
    assert_eq!(results[0].0, 200, "{results:?}");
    assert_eq!(results[1].0, 503, "{results:?}");
    assert!(results[1].1 < Duration::from_millis(800), "{results:?}");
    // It waited for its own server, not for the idle one.
    assert_eq!(o[0].requests() + o[1].requests(), 1);
}

#[test]
fn a_full_server_is_skipped_for_a_free_one() {
    let o = origins(2);
    let p = listen("    timeout queue 5s", &server_lines(&o, "maxconn 1"));
    let results = concurrent(
        &p,
        &["/sleep/500", "/sleep/500", "/sleep/500", "/sleep/500"],
        Duration::from_millis(20),
    );
    assert!(results.iter().all(|r| r.0 == 200), "{results:?}");
    // Two requests ran at once (one per server), then the two queued ones.
    assert_eq!((o[0].requests(), o[1].requests()), (2, 2), "{results:?}");
    let early = results
        .iter()
        .filter(|r| r.1 < Duration::from_millis(800))
        .count();
    assert_eq!(early, 2, "{results:?}");
    let last = results.iter().map(|r| r.1).max().unwrap();
    assert!(
        last >= Duration::from_millis(950),
        "more than one request per server at once: {results:?}"
    );
}
