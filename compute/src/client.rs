//! [`ComputeClient`]: the client side of the compute server's protocol over one
//! `MessageChannel`: submit jobs and cancels and poll results without blocking (for a
//! duty cycle), plus [`ComputeClient::call`], a bounded blocking round trip for the CLI
//! and tests.
//!
//! Connecting blocks (the MPA exchange); afterwards nothing here blocks or allocates
//! except `call`, which waits by yielding and gives up at its timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tickwarp_gateway::service::rdma_auth::{Credential, CredentialError};
use tickwarp_gateway::service::rdma_entry::client_connect_params;
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, ChannelSetupError, MessageChannel};
use tickwarp_rdma::verbs::{Backend, CmError, Device, ProtectionDomain, VerbsError};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_wire::AccountId;

use crate::job::{Cancel, DecodeError, Job, JobResult, RESULT_LEN};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No device for the address.
    #[error("RDMA device: {0}")]
    Verbs(#[from] VerbsError),
    /// The credential cannot be encoded (token too long).
    #[error("credential: {0}")]
    Credential(#[from] CredentialError),
    /// The server rejected the connection; its reason (e.g. authentication failed).
    #[error("rejected by the server: {0}")]
    Rejected(String),
    /// The connection could not be set up (refused, timed out).
    #[error("connect: {0}")]
    Setup(#[from] ChannelSetupError),
    /// The channel failed or closed.
    #[error("channel: {0}")]
    Channel(#[from] ChannelError),
    /// No credit now: poll results (which returns credits) and retry.
    #[error("no credit: the server has not freed a receive slot yet")]
    WouldBlock,
    /// The server sent something that is not a result.
    #[error("server sent an invalid result: {0}")]
    Decode(#[from] DecodeError),
    /// The server answered another job than the one waited for.
    #[error("result for job {got}, expected {expected}")]
    UnexpectedId {
        /// The job waited for.
        expected: u64,
        /// The result's id.
        got: u64,
    },
    /// No result within the timeout.
    #[error("no result within {0:?}")]
    Timeout(Duration),
}

/// A connection to a compute server.
#[derive(Debug)]
pub struct ComputeClient {
    channel: MessageChannel,
    _pd: ProtectionDomain,
    _dev: Device,
    buf: [u8; RESULT_LEN + 1],
}

impl ComputeClient {
    /// The channel a client proposes: 64 slots of 256 bytes, 64 SENDs in flight.
    pub fn channel_config() -> ChannelConfig {
        ChannelConfig::default()
    }

    /// Connects to the server at `addr` as `account` with `token`.
    pub fn connect(
        backend: Backend,
        addr: SocketAddr,
        account: AccountId,
        token: &[u8],
    ) -> Result<ComputeClient, ClientError> {
        let dev = Device::open(backend)?;
        let pd = dev.alloc_pd();
        let params = client_connect_params(&Credential { account, token })?;
        let channel = match MessageChannel::connect(
            &dev,
            &pd,
            addr,
            ComputeClient::channel_config(),
            &params,
        ) {
            Ok(channel) => channel,
            Err(ChannelSetupError::Cm(CmError::Rejected { reason })) => {
                return Err(ClientError::Rejected(
                    String::from_utf8_lossy(&reason).into_owned(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(ComputeClient {
            channel,
            _pd: pd,
            _dev: dev,
            buf: [0; RESULT_LEN + 1],
        })
    }

    /// Sends `job`, or [`ClientError::WouldBlock`] when there is no credit now.
    pub fn try_submit(&mut self, job: &Job) -> Result<(), ClientError> {
        self.send(&job.to_bytes())
    }

    /// Sends a cancel of job `id`, or [`ClientError::WouldBlock`].
    pub fn try_cancel(&mut self, id: u64) -> Result<(), ClientError> {
        self.send(&Cancel { id }.to_bytes())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        match self.channel.try_send(bytes) {
            Ok(()) => Ok(()),
            Err(ChannelError::WouldBlock) => Err(ClientError::WouldBlock),
            Err(e) => Err(e.into()),
        }
    }

    /// The next result, if one has arrived.
    pub fn try_poll(&mut self) -> Result<Option<JobResult>, ClientError> {
        match self.channel.try_recv(&mut self.buf)? {
            None => Ok(None),
            Some(len) => Ok(Some(JobResult::from_bytes(
                self.buf.get(..len).unwrap_or_default(),
            )?)),
        }
    }

    /// Submits `job` and waits (yielding) for its result, at most `timeout`. Use on a
    /// connection with no other job outstanding.
    pub fn call(&mut self, job: &Job, timeout: Duration) -> Result<JobResult, ClientError> {
        let start = monotonic_now();
        let expired = || monotonic_now().saturating_sub(start).as_duration() > timeout;
        loop {
            match self.try_submit(job) {
                Ok(()) => break,
                Err(ClientError::WouldBlock) => {
                    self.channel.progress()?;
                }
                Err(e) => return Err(e),
            }
            if expired() {
                return Err(ClientError::Timeout(timeout));
            }
            std::thread::yield_now();
        }
        loop {
            if let Some(r) = self.try_poll()? {
                if r.id != job.id {
                    return Err(ClientError::UnexpectedId {
                        expected: job.id,
                        got: r.id,
                    });
                }
                return Ok(r);
            }
            if expired() {
                return Err(ClientError::Timeout(timeout));
            }
            std::thread::yield_now();
        }
    }
}
