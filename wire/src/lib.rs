//! tickwarp-wire: fixed-layout trading records and the journal.
pub mod units;
