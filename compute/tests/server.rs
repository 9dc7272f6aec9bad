//! The compute server over the soft-iWARP backend on loopback: every model priced
//! remotely equals the local result bit for bit; invalid jobs name the field; the trust
//! rules (credential, cap) and a hostile record. Every wait is bounded.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_compute::server::client_connect_params;
use tickwarp_compute::server::{REJECT_AUTH, REJECT_CAP, ServerSettings};
use tickwarp_compute::{
    ClientError, ComputeClient, ComputeServer, Field, Job, JobResult, Model, PricingClient, Status,
    execute,
};
use tickwarp_gateway::service::rdma_auth::{Credential, TokenTable, hash_token};
use tickwarp_pricing::{Contract, HestonParams, Lattice, OptionType};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::verbs::{Backend, Device, ProtectionDomain};
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_wire::AccountId;

const TOKEN: &[u8] = b"compute-test-token";
const ACCOUNT: AccountId = AccountId(7);
const WAIT: Duration = Duration::from_secs(60);

fn server(max_clients: usize) -> Result<ComputeServer> {
    let hash = hash_token(TOKEN)?;
    let tokens = TokenTable::new([(ACCOUNT, hash.as_str())])?;
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut s = ServerSettings::new(listen, 2, tokens);
    s.backend = Backend::Soft;
    s.max_clients = max_clients;
    s.max_job_cost = 50_000_000;
    Ok(ComputeServer::bind(s)?)
}

fn client(addr: SocketAddr) -> Result<ComputeClient> {
    Ok(ComputeClient::connect(Backend::Soft, addr, ACCOUNT, TOKEN)?)
}

fn job(id: u64, model: Model, kind: OptionType) -> Job {
    Job {
        id,
        model,
        contract: Contract {
            kind,
            spot: 100.0,
            strike: 105.0,
            rate: 0.03,
            div: 0.01,
            vol: 0.25,
            expiry: 0.75,
        },
        tree: if id % 2 == 0 {
            Lattice::CoxRossRubinstein
        } else {
            Lattice::LeisenReimer
        },
        steps: if model == Model::AsianMc { 12 } else { 200 },
        paths: 20_000,
        seed: 42 + id,
        heston: HestonParams {
            kappa: 1.5,
            theta: 0.04,
            xi: 0.5,
            rho: -0.6,
            v0: 0.05,
        },
        deadline_ns: 0,
    }
}

#[test]
fn every_model_is_bit_identical_remotely() -> Result<()> {
    let srv = server(4)?;
    let mut c = client(srv.local_addr())?;
    let mut id = 0;
    for model in [
        Model::BlackScholes,
        Model::American,
        Model::AsianMc,
        Model::Heston,
    ] {
        for kind in [OptionType::Call, OptionType::Put] {
            id += 1;
            let j = job(id, model, kind);
            let remote = c.call(&j, WAIT)?;
            let local = execute(&j);
            ensure!(remote.status == Status::Done, "{model:?}: {remote:?}");
            // Bit for bit: compare the encodings (f64 bits, presence of every value).
            ensure!(
                remote.to_bytes() == local.to_bytes(),
                "{model:?} {kind:?}: remote {remote:?} local {local:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn invalid_jobs_name_the_field() -> Result<()> {
    let srv = server(4)?;
    let mut c = client(srv.local_addr())?;
    let mut j = job(1, Model::BlackScholes, OptionType::Call);
    j.contract.vol = -0.2;
    let r = c.call(&j, WAIT)?;
    ensure!(
        (r.status, r.field, r.value) == (Status::Invalid, Some(Field::Vol), -0.2),
        "{r:?}"
    );
    // Over the server's per-job cost cap: refused before computing, naming the paths.
    let mut j = job(2, Model::AsianMc, OptionType::Call);
    j.paths = 10_000_000;
    let r = c.call(&j, WAIT)?;
    ensure!(
        (r.status, r.field) == (Status::Invalid, Some(Field::Paths)),
        "{r:?}"
    );
    // An unknown model byte in an otherwise whole record: invalid, naming the model.
    let mut bytes = job(3, Model::Heston, OptionType::Put).to_bytes();
    bytes[2] = 99;
    let r = raw_call(&mut raw(srv.local_addr())?, &bytes)??;
    ensure!(r.id == 3, "{r:?}");
    ensure!(
        (r.status, r.field) == (Status::Invalid, Some(Field::Model)),
        "{r:?}"
    );
    // The connection still works.
    let r = c.call(&job(4, Model::BlackScholes, OptionType::Put), WAIT)?;
    ensure!(r.status == Status::Done, "{r:?}");
    ensure!(srv.stats().invalid == 3, "{:?}", srv.stats());
    Ok(())
}

/// A raw channel to the server, authenticated, for records the client cannot encode.
struct Raw {
    channel: MessageChannel,
    _pd: ProtectionDomain,
    _dev: Device,
}

fn raw(addr: SocketAddr) -> Result<Raw> {
    let dev = Device::open(Backend::Soft)?;
    let pd = dev.alloc_pd();
    let params = client_connect_params(&Credential {
        account: ACCOUNT,
        token: TOKEN,
    })?;
    let channel = MessageChannel::connect(&dev, &pd, addr, ChannelConfig::default(), &params)?;
    Ok(Raw {
        channel,
        _pd: pd,
        _dev: dev,
    })
}

/// Sends `bytes` as one record and waits (bounded) for one answer or the close.
fn raw_call(r: &mut Raw, bytes: &[u8]) -> Result<Result<JobResult, ChannelError>> {
    let start = monotonic_now();
    loop {
        match r.channel.try_send(bytes) {
            Ok(()) => break,
            Err(ChannelError::WouldBlock) => {}
            Err(e) => bail!("send: {e}"),
        }
        ensure!(!expired(start), "could not send within {WAIT:?}");
        std::thread::yield_now();
    }
    let mut buf = [0u8; 256];
    loop {
        match r.channel.try_recv(&mut buf) {
            Ok(Some(len)) => return Ok(Ok(JobResult::from_bytes(&buf[..len])?)),
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
        }
        ensure!(!expired(start), "no answer within {WAIT:?}");
        std::thread::yield_now();
    }
}

fn expired(start: Nanos) -> bool {
    monotonic_now().saturating_sub(start).as_duration() > WAIT
}

#[test]
fn a_record_that_is_not_a_job_closes_only_that_connection() -> Result<()> {
    let srv = server(4)?;
    let mut bad = raw(srv.local_addr())?;
    let mut good = client(srv.local_addr())?;
    // A truncated job closes the channel.
    let answer = raw_call(&mut bad, &[1, 1, 0])?;
    ensure!(
        answer == Err(ChannelError::Disconnected),
        "expected the server to close the connection, got {answer:?}"
    );
    let r = good.call(&job(1, Model::BlackScholes, OptionType::Call), WAIT)?;
    ensure!(r.status == Status::Done, "{r:?}");
    ensure!(srv.stats().protocol_errors == 1, "{:?}", srv.stats());
    Ok(())
}

#[test]
fn wrong_token_and_full_server_are_rejected() -> Result<()> {
    let srv = server(1)?;
    let wrong = ComputeClient::connect(Backend::Soft, srv.local_addr(), ACCOUNT, b"nope");
    ensure!(rejected(wrong)? == REJECT_AUTH);
    // The lockout after a failure is per address; wait it out (bounded) before the
    // legitimate client connects.
    let start = monotonic_now();
    let _first = loop {
        match client(srv.local_addr()) {
            Ok(c) => break c,
            Err(e) => ensure!(!expired(start), "could not connect: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let second = ComputeClient::connect(Backend::Soft, srv.local_addr(), ACCOUNT, TOKEN);
    ensure!(rejected(second)? == REJECT_CAP);
    Ok(())
}

fn rejected(r: Result<ComputeClient, ClientError>) -> Result<Vec<u8>> {
    match r {
        Err(ClientError::Rejected(reason)) => Ok(reason.into_bytes()),
        Err(e) => bail!("expected an MPA Reject, got {e}"),
        Ok(_) => bail!("expected an MPA Reject, got a connection"),
    }
}

#[test]
fn pricing_client_gives_the_same_results_remote_and_local() -> Result<()> {
    let srv = server(4)?;
    let mut remote = PricingClient::remote(client(srv.local_addr())?);
    let mut local = PricingClient::local(16);
    let jobs: Vec<Job> = (1..=8)
        .map(|i| {
            let model = [
                Model::BlackScholes,
                Model::American,
                Model::AsianMc,
                Model::Heston,
            ][i as usize % 4];
            job(i, model, OptionType::Put)
        })
        .collect();
    let mut submitted = 0;
    let mut got = Vec::new();
    let start = monotonic_now();
    // Submit and poll without blocking, as a duty cycle would.
    while got.len() < jobs.len() {
        if let Some(j) = jobs.get(submitted) {
            match remote.try_submit(j) {
                Ok(()) => submitted += 1,
                Err(ClientError::WouldBlock) => {}
                Err(e) => bail!("submit: {e}"),
            }
        }
        if let Some(r) = remote.try_poll()? {
            got.push(r);
        }
        ensure!(
            !expired(start),
            "only {} results within {WAIT:?}",
            got.len()
        );
        std::thread::yield_now();
    }
    got.sort_by_key(|r| r.id);
    for (j, r) in jobs.iter().zip(&got) {
        local.try_submit(j)?;
        let l = local.try_poll()?.context("local result")?;
        ensure!(
            r.to_bytes() == l.to_bytes(),
            "job {}: remote {r:?} local {l:?}",
            j.id
        );
    }
    Ok(())
}

#[test]
fn a_client_that_leaves_mid_job_does_not_disturb_the_others() -> Result<()> {
    let srv = server(4)?;
    let mut good = client(srv.local_addr())?;
    {
        let mut leaver = client(srv.local_addr())?;
        let mut j = job(1, Model::AsianMc, OptionType::Call);
        j.paths = 200_000;
        for id in 1..=20 {
            match leaver.try_submit(&Job { id, ..j }) {
                Ok(()) | Err(ClientError::WouldBlock) => {}
                Err(e) => bail!("submit: {e}"),
            }
        }
    }
    let start = monotonic_now();
    while srv.stats().connections != 1 {
        ensure!(
            !expired(start),
            "the leaver is still connected: {:?}",
            srv.stats()
        );
        std::thread::yield_now();
    }
    let r = good.call(&job(99, Model::BlackScholes, OptionType::Call), WAIT)?;
    ensure!(r.status == Status::Done && r.id == 99, "{r:?}");
    ensure!(srv.is_running());
    Ok(())
}

/// The strategies' view of a remote client: submitting without polling runs out of the
/// server's credit and gets `PricerError::WouldBlock` (never blocks); polling returns
/// every submitted job's result, equal to the local one.
#[test]
fn as_a_strategy_pricer_submits_are_bounded_by_credit() -> Result<()> {
    use tickwarp_strategies::{Pricer, PricerError};

    let srv = server(4)?;
    let mut remote = PricingClient::remote(client(srv.local_addr())?);
    let pricer: &mut dyn Pricer = &mut remote;
    let j = |id| job(id, Model::BlackScholes, OptionType::Call);
    let mut submitted = 0u64;
    let mut refused = false;
    // Far more than the 64 slots of each side; stops at the first refusal.
    for _ in 0..100_000 {
        match pricer.try_submit(&j(submitted + 1)) {
            Ok(()) => submitted += 1,
            Err(PricerError::WouldBlock) => {
                refused = true;
                break;
            }
            Err(e) => bail!("submit: {e}"),
        }
        if submitted % 64 == 0 {
            std::thread::yield_now();
        }
    }
    ensure!(refused, "{submitted} submits and never out of credit");
    ensure!(submitted >= 1, "no submit was taken");
    let start = monotonic_now();
    let mut got = Vec::new();
    while got.len() < submitted as usize {
        match pricer.try_poll()? {
            Some(r) => got.push(r),
            None => std::thread::yield_now(),
        }
        ensure!(
            monotonic_now().saturating_sub(start) < Nanos::from(WAIT),
            "{} of {submitted} results within {WAIT:?}",
            got.len()
        );
    }
    got.sort_by_key(|r| r.id);
    for (i, r) in got.iter().enumerate() {
        let want = execute(&j(i as u64 + 1));
        ensure!(r.to_bytes() == want.to_bytes(), "{r:?} vs {want:?}");
    }
    // Credit came back with the results.
    ensure!(
        pricer.try_submit(&j(submitted + 1)).is_ok(),
        "still no credit"
    );
    Ok(())
}
