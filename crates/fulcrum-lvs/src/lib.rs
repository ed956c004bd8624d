//! The L4 virtual-server table, the ipvsadm command line and output formats, and the data-plane backends.
