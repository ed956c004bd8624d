//! VRRP v2/v3: sans-IO codec and state machine, plus the Linux driver.
