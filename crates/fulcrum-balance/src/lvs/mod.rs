//! LVS schedulers (rr, wrr, lc, wlc, sh, dh, mh, sed, nq, fo, ovf) and the Maglev table.
