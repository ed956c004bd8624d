//! Health checking: the pure rise/fall tracker and the probes (TCP connect, HTTP).
