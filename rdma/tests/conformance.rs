//! One conformance suite, generic over the verbs backend: every verbs operation,
//! connection management with private data, error completions, disconnects, the RDMA
//! WRITE ring and the message channel.
//!
//! Each case is a function of an [`env::Env`] and runs twice: `soft::case` on the soft
//! stack over 127.0.0.1 (always), and `hw::case` on a verbs device. The hardware cases
//! are `#[ignore]`d, so `cargo test` reports them as ignored rather than passed; they
//! need the `hw` feature and a device that rdma_cm binds a local address to, and run with
//! `--ignored` (`TICKWARP_HW_ADDR` names that address, e.g. `10.0.2.15` for `siw0` in the
//! siw VM; without it the first device address is used). Run without a device, each one
//! fails. `deploy/siw/hw-conformance.sh` runs the `hw::` half inside the siw VM.
//!
//! `remote::responder` and `remote::initiator` (ignored by default) are the two halves
//! of a cross-backend run in separate processes (see `conformance/remote.rs`).
//!
//! The cases assert what both backends promise. Where libibverbs reports less than the
//! soft stack (the solicited flag of a received SEND, the opcode of a failed request),
//! the case says so beside the check.

mod util;

#[path = "conformance/env.rs"]
mod env;
#[path = "conformance/errors.rs"]
mod errors;
#[path = "conformance/ops.rs"]
mod ops;
#[path = "conformance/remote.rs"]
mod remote;
#[path = "conformance/ulp.rs"]
mod ulp;

/// Declares every case once per backend.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod soft {
            $(
                #[test]
                fn $case() -> anyhow::Result<()> {
                    super::$module::$case(&super::env::Env::soft())
                }
            )*
        }

        mod hw {
            $(
                #[test]
                #[ignore = "needs a verbs device (siw0 in the siw VM): deploy/siw/hw-conformance.sh runs it with --ignored"]
                fn $case() -> anyhow::Result<()> {
                    match super::env::Env::hardware()? {
                        Some(env) => super::$module::$case(&env),
                        None => anyhow::bail!(
                            "no verbs device serves a local address (set {} or run \
                             deploy/siw/hw-conformance.sh)",
                            super::env::HW_ADDR_VAR
                        ),
                    }
                }
            )*
        }
    };
}

conformance!(
    ops::device_and_listing_name_the_backend,
    ops::memory_region_accessors_and_bounds,
    ops::private_data_flows_both_ways,
    ops::reject_carries_reason,
    ops::accept_times_out_without_a_peer,
    ops::send_recv_of_several_sizes,
    ops::inline_sends_small_and_large,
    ops::gather_and_scatter_lists,
    ops::rdma_write_of_several_sizes,
    ops::rdma_read_of_several_sizes,
    ops::send_with_invalidate_names_the_stag,
    ops::solicited_send_is_delivered,
    ops::post_limits_are_typed_errors,
    ops::qps_share_completion_queues,
    errors::read_without_remote_read_right_fails,
    errors::write_without_remote_write_right_fails_the_connection,
    errors::send_longer_than_the_receive_is_a_length_error,
    errors::disconnect_flushes_both_sides,
    errors::dropping_the_peer_fails_this_side,
    ulp::ring_delivers_in_order,
    ulp::lapped_ring_reader_sees_a_gap,
    ulp::ring_with_separate_tail_write,
    ulp::channel_round_trips_both_ways,
    ulp::channel_disconnect_reaches_the_peer,
);

/// The halves of a cross-backend run (one process each; see `conformance/remote.rs`).
mod remote_peer {
    #[test]
    #[ignore = "one half of a two-process run; needs TICKWARP_REMOTE_* (deploy/siw/hw-conformance.sh)"]
    fn responder() -> anyhow::Result<()> {
        super::remote::responder()
    }

    #[test]
    #[ignore = "one half of a two-process run; needs TICKWARP_REMOTE_* (deploy/siw/hw-conformance.sh)"]
    fn initiator() -> anyhow::Result<()> {
        super::remote::initiator()
    }
}
