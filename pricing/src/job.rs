//! The compute job protocol: fixed-layout, little-endian, versioned records carried one
//! per SEND on a `MessageChannel`. Byte layout only: no state, no I/O, no clock.
//!
//! Every record starts with the same 16-byte header:
//!
//! ```text
//!  0         1      2 ............ 8                 16
//!  +---------+------+--------------+-----------------+
//!  | version | kind | kind-specific| id (u64)        |
//!  +---------+------+--------------+-----------------+
//! ```
//!
//! - [`Job`] (kind 1, 136 bytes): the model and its parameters exactly as
//!   `tickwarp compute price` takes them (the client resolves defaults: the record always
//!   carries explicit steps, paths and seed), and a deadline;
//! - [`JobResult`] (kind 2, 88 bytes): the status, the invalid field, the price, the
//!   standard error and the Greeks the model gives;
//! - [`Cancel`] (kind 3, 16 bytes): cancels a queued job.
//!
//! The record lengths are exact: a shorter message is `Truncated`, a longer one
//! `Length`. Floating-point values travel as their IEEE-754 bits, so a price crosses the
//! wire bit for bit. Decoding checks the layout (version, kind, enumerations, reserved
//! bytes); the domain of the parameters (a negative spot, too many paths) is the pricing
//! kernels' to judge, and comes back as [`Status::Invalid`] with the [`Field`].
//!
//! Panic contract: no function here panics, whatever the bytes.

use crate::{Contract, HestonParams, Lattice, OptionType};

/// Version of every record's layout.
pub const VERSION: u8 = 1;
/// Bytes of a [`Job`] record.
pub const JOB_LEN: usize = 136;
/// Bytes of a [`JobResult`] record.
pub const RESULT_LEN: usize = 88;
/// Bytes of a [`Cancel`] record.
pub const CANCEL_LEN: usize = 16;
/// The largest record, for receive buffers.
pub const MAX_RECORD: usize = JOB_LEN;

/// Kind byte of a [`Job`].
const KIND_JOB: u8 = 1;
/// Kind byte of a [`JobResult`].
const KIND_RESULT: u8 = 2;
/// Kind byte of a [`Cancel`].
const KIND_CANCEL: u8 = 3;

/// Byte ranges of the records, named as in the layouts above.
mod field {
    use std::ops::Range;
    pub(super) const VERSION: usize = 0;
    pub(super) const KIND: usize = 1;
    pub(super) const ID: Range<usize> = 8..16;
    // Job.
    pub(super) const MODEL: usize = 2;
    pub(super) const OPTION: usize = 3;
    pub(super) const TREE: usize = 4;
    pub(super) const JOB_RESERVED: Range<usize> = 5..8;
    pub(super) const DEADLINE: usize = 16;
    pub(super) const SPOT: usize = 24;
    pub(super) const STRIKE: usize = 32;
    pub(super) const RATE: usize = 40;
    pub(super) const DIV: usize = 48;
    pub(super) const VOL: usize = 56;
    pub(super) const EXPIRY: usize = 64;
    pub(super) const STEPS: usize = 72;
    pub(super) const PATHS: usize = 80;
    pub(super) const SEED: usize = 88;
    pub(super) const KAPPA: usize = 96;
    pub(super) const THETA: usize = 104;
    pub(super) const XI: usize = 112;
    pub(super) const RHO: usize = 120;
    pub(super) const V0: usize = 128;
    // Result.
    pub(super) const STATUS: usize = 2;
    pub(super) const BAD_FIELD: usize = 3;
    pub(super) const PRESENT: usize = 4;
    pub(super) const RESULT_RESERVED: Range<usize> = 5..8;
    pub(super) const PRICE: usize = 16;
    pub(super) const STDERR: usize = 24;
    pub(super) const DELTA: usize = 32;
    pub(super) const GAMMA: usize = 40;
    pub(super) const VEGA: usize = 48;
    pub(super) const R_THETA: usize = 56;
    pub(super) const R_RHO: usize = 64;
    pub(super) const USED_STEPS: usize = 72;
    pub(super) const VALUE: usize = 80;
    // Cancel.
    pub(super) const CANCEL_RESERVED: Range<usize> = 2..8;
}

/// Why bytes are not a valid record. Small and `Copy`; says what failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the record needs.
    #[error("record truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the record needs.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// More bytes than the record's fixed length.
    #[error("record of kind {kind} is {expected} bytes, got {have}")]
    Length {
        /// The kind byte.
        kind: u8,
        /// The record's length.
        expected: usize,
        /// Bytes given.
        have: usize,
    },
    /// An unknown layout version.
    #[error("unsupported record version {0}")]
    Version(u8),
    /// An unknown record kind, or not the kind expected here.
    #[error("unexpected record kind {0}")]
    Kind(u8),
    /// Reserved bytes are not zero.
    #[error("reserved bytes are not zero")]
    Reserved,
    /// A result's invalid-field code is not a known field.
    #[error("unknown field code {0}")]
    UnknownField(u8),
    /// An enumeration byte (model, option type, tree, status, field, presence bits) is
    /// not one of its values.
    #[error("{field:?} byte {value} is not a known value")]
    Enum {
        /// Which field.
        field: Field,
        /// The byte.
        value: u8,
    },
}

impl DecodeError {
    /// The job field this error is about, when it is one a server answers with
    /// [`Status::Invalid`] (an unknown model, option type or tree), rather than a
    /// broken record.
    pub fn invalid_field(&self) -> Option<Field> {
        match self {
            DecodeError::Enum { field, .. }
                if matches!(field, Field::Model | Field::Type | Field::Tree) =>
            {
                Some(*field)
            }
            _ => None,
        }
    }
}

/// The pricing model of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// European, Black–Scholes–Merton closed form with Greeks.
    BlackScholes,
    /// American on a binomial tree ([`Job::tree`], [`Job::steps`]).
    American,
    /// Arithmetic-average Asian, Monte Carlo with control variate ([`Job::steps`]
    /// averaging dates, [`Job::paths`], [`Job::seed`]).
    AsianMc,
    /// European, Heston semi-closed form ([`Job::heston`]).
    Heston,
}

impl Model {
    fn to_byte(self) -> u8 {
        match self {
            Model::BlackScholes => 1,
            Model::American => 2,
            Model::AsianMc => 3,
            Model::Heston => 4,
        }
    }

    fn from_byte(b: u8) -> Result<Model, DecodeError> {
        Ok(match b {
            1 => Model::BlackScholes,
            2 => Model::American,
            3 => Model::AsianMc,
            4 => Model::Heston,
            value => {
                return Err(DecodeError::Enum {
                    field: Field::Model,
                    value,
                });
            }
        })
    }

    /// The model's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Model::BlackScholes => "black-scholes",
            Model::American => "american",
            Model::AsianMc => "asian-mc",
            Model::Heston => "heston",
        }
    }
}

/// A job field, named as the CLI flag (`Field::V0` is `--v0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `--model`.
    Model,
    /// `--type`.
    Type,
    /// `--tree`.
    Tree,
    /// `--spot`.
    Spot,
    /// `--strike`.
    Strike,
    /// `--rate`.
    Rate,
    /// `--div`.
    Div,
    /// `--vol`.
    Vol,
    /// `--expiry`.
    Expiry,
    /// `--steps`.
    Steps,
    /// `--paths`.
    Paths,
    /// `--seed`.
    Seed,
    /// `--kappa`.
    Kappa,
    /// `--theta`.
    Theta,
    /// `--xi`.
    Xi,
    /// `--rho`.
    Rho,
    /// `--v0`.
    V0,
    /// The deadline.
    Deadline,
    /// A result's status byte (decode errors only).
    Status,
    /// A result's presence bits (decode errors only).
    Present,
}

/// Every field, in wire-code order (code = index + 1).
const FIELDS: [Field; 20] = [
    Field::Model,
    Field::Type,
    Field::Tree,
    Field::Spot,
    Field::Strike,
    Field::Rate,
    Field::Div,
    Field::Vol,
    Field::Expiry,
    Field::Steps,
    Field::Paths,
    Field::Seed,
    Field::Kappa,
    Field::Theta,
    Field::Xi,
    Field::Rho,
    Field::V0,
    Field::Deadline,
    Field::Status,
    Field::Present,
];

impl Field {
    /// The CLI flag without its dashes.
    pub fn name(self) -> &'static str {
        match self {
            Field::Model => "model",
            Field::Type => "type",
            Field::Tree => "tree",
            Field::Spot => "spot",
            Field::Strike => "strike",
            Field::Rate => "rate",
            Field::Div => "div",
            Field::Vol => "vol",
            Field::Expiry => "expiry",
            Field::Steps => "steps",
            Field::Paths => "paths",
            Field::Seed => "seed",
            Field::Kappa => "kappa",
            Field::Theta => "theta",
            Field::Xi => "xi",
            Field::Rho => "rho",
            Field::V0 => "v0",
            Field::Deadline => "deadline",
            Field::Status => "status",
            Field::Present => "present",
        }
    }

    /// The field a pricing error names (`PricingError` fields are CLI flag names).
    pub fn from_name(name: &str) -> Option<Field> {
        FIELDS.iter().copied().find(|f| f.name() == name)
    }

    fn code(self) -> u8 {
        FIELDS
            .iter()
            .position(|f| *f == self)
            .map_or(0, |i| i as u8 + 1)
    }

    fn from_code(code: u8) -> Option<Field> {
        FIELDS.get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// One pricing job.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    /// The client's id of the job, echoed in its result.
    pub id: u64,
    /// The model.
    pub model: Model,
    /// The option (for Heston its `vol` is unused).
    pub contract: Contract,
    /// The lattice (american only).
    pub tree: Lattice,
    /// Tree steps (american) or averaging dates (asian-mc).
    pub steps: u64,
    /// Monte Carlo paths (asian-mc).
    pub paths: u64,
    /// Monte Carlo seed (asian-mc).
    pub seed: u64,
    /// Heston parameters (heston only).
    pub heston: HestonParams,
    /// Nanoseconds after the server receives the job by which computing must have
    /// started, else the result is [`Status::Expired`]; 0 means no deadline. Relative,
    /// because the clocks of two hosts are not comparable.
    pub deadline_ns: u64,
}

/// What became of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Priced.
    Done,
    /// The server's queue was full; nothing was computed (retry later).
    Busy,
    /// The deadline passed before computing started.
    Expired,
    /// Cancelled before computing started.
    Cancelled,
    /// A parameter is invalid ([`JobResult::field`] names it, [`JobResult::value`] is
    /// its value).
    Invalid,
    /// The numerical method failed (no convergence, non-finite result).
    Failed,
}

impl Status {
    fn to_byte(self) -> u8 {
        match self {
            Status::Done => 0,
            Status::Busy => 1,
            Status::Expired => 2,
            Status::Cancelled => 3,
            Status::Invalid => 4,
            Status::Failed => 5,
        }
    }

    fn from_byte(b: u8) -> Result<Status, DecodeError> {
        Ok(match b {
            0 => Status::Done,
            1 => Status::Busy,
            2 => Status::Expired,
            3 => Status::Cancelled,
            4 => Status::Invalid,
            5 => Status::Failed,
            value => {
                return Err(DecodeError::Enum {
                    field: Field::Status,
                    value,
                });
            }
        })
    }
}

/// The result of one job. Values the model does not give are `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobResult {
    /// The job's id.
    pub id: u64,
    /// What became of it.
    pub status: Status,
    /// The invalid field ([`Status::Invalid`] only).
    pub field: Option<Field>,
    /// The present value ([`Status::Done`]).
    pub price: f64,
    /// Monte Carlo standard error.
    pub stderr: Option<f64>,
    /// dV/dS.
    pub delta: Option<f64>,
    /// d²V/dS².
    pub gamma: Option<f64>,
    /// dV/dσ per 1.00 of volatility.
    pub vega: Option<f64>,
    /// dV/dt per year.
    pub theta: Option<f64>,
    /// dV/dr per 1.00 of rate.
    pub rho: Option<f64>,
    /// Steps the method used (a Leisen–Reimer tree makes an even count odd).
    pub steps: Option<u64>,
    /// The offending value ([`Status::Invalid`]), as a float.
    pub value: f64,
}

impl JobResult {
    /// A result with `status` and nothing priced.
    pub fn empty(id: u64, status: Status) -> JobResult {
        JobResult {
            id,
            status,
            field: None,
            price: 0.0,
            stderr: None,
            delta: None,
            gamma: None,
            vega: None,
            theta: None,
            rho: None,
            steps: None,
            value: 0.0,
        }
    }

    /// [`Status::Invalid`] naming `field` and its `value`.
    pub fn invalid(id: u64, field: Field, value: f64) -> JobResult {
        JobResult {
            field: Some(field),
            value,
            ..JobResult::empty(id, Status::Invalid)
        }
    }
}

/// Cancels job `id` if it has not started (answered with [`Status::Cancelled`]; a job
/// already computing or done is answered as usual, and an unknown id is ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cancel {
    /// The job's id.
    pub id: u64,
}

/// A record a client sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Request {
    /// Price a job.
    Job(Job),
    /// Cancel a job.
    Cancel(Cancel),
}

fn put_u64(out: &mut [u8], at: usize, v: u64) {
    if let Some(dst) = out.get_mut(at..at + 8) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

fn put_f64(out: &mut [u8], at: usize, v: f64) {
    put_u64(out, at, v.to_bits());
}

/// Reads the u64 at `at` (the caller checked the length).
fn get_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.first_chunk::<8>())
        .map_or(0, |a| u64::from_le_bytes(*a))
}

fn get_f64(b: &[u8], at: usize) -> f64 {
    f64::from_bits(get_u64(b, at))
}

fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Checks version, kind and exact length.
fn check_header(b: &[u8], kind: u8, len: usize) -> Result<(), DecodeError> {
    if b.len() < 2 {
        return Err(DecodeError::Truncated {
            need: len,
            have: b.len(),
        });
    }
    if byte(b, field::VERSION) != VERSION {
        return Err(DecodeError::Version(byte(b, field::VERSION)));
    }
    if byte(b, field::KIND) != kind {
        return Err(DecodeError::Kind(byte(b, field::KIND)));
    }
    match b.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(DecodeError::Truncated {
            need: len,
            have: b.len(),
        }),
        std::cmp::Ordering::Greater => Err(DecodeError::Length {
            kind,
            expected: len,
            have: b.len(),
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

fn zeros(b: &[u8], range: std::ops::Range<usize>) -> Result<(), DecodeError> {
    if b.get(range).is_some_and(|r| r.iter().all(|x| *x == 0)) {
        Ok(())
    } else {
        Err(DecodeError::Reserved)
    }
}

impl Job {
    /// A Black–Scholes–Merton job for `contract`, without deadline (the fields other
    /// models use are zero).
    pub fn black_scholes(id: u64, contract: Contract) -> Job {
        Job {
            id,
            model: Model::BlackScholes,
            contract,
            tree: Lattice::CoxRossRubinstein,
            steps: 0,
            paths: 0,
            seed: 0,
            heston: HestonParams {
                kappa: 0.0,
                theta: 0.0,
                xi: 0.0,
                rho: 0.0,
                v0: 0.0,
            },
            deadline_ns: 0,
        }
    }

    /// Encodes the job (layout in the module docs).
    pub fn to_bytes(&self) -> [u8; JOB_LEN] {
        let mut out = [0u8; JOB_LEN];
        out[field::VERSION] = VERSION;
        out[field::KIND] = KIND_JOB;
        out[field::MODEL] = self.model.to_byte();
        out[field::OPTION] = match self.contract.kind {
            OptionType::Call => 0,
            OptionType::Put => 1,
        };
        out[field::TREE] = match self.tree {
            Lattice::CoxRossRubinstein => 0,
            Lattice::LeisenReimer => 1,
        };
        put_u64(&mut out, field::ID.start, self.id);
        put_u64(&mut out, field::DEADLINE, self.deadline_ns);
        let c = &self.contract;
        for (at, v) in [
            (field::SPOT, c.spot),
            (field::STRIKE, c.strike),
            (field::RATE, c.rate),
            (field::DIV, c.div),
            (field::VOL, c.vol),
            (field::EXPIRY, c.expiry),
            (field::KAPPA, self.heston.kappa),
            (field::THETA, self.heston.theta),
            (field::XI, self.heston.xi),
            (field::RHO, self.heston.rho),
            (field::V0, self.heston.v0),
        ] {
            put_f64(&mut out, at, v);
        }
        put_u64(&mut out, field::STEPS, self.steps);
        put_u64(&mut out, field::PATHS, self.paths);
        put_u64(&mut out, field::SEED, self.seed);
        out
    }

    /// Decodes a job record.
    pub fn from_bytes(b: &[u8]) -> Result<Job, DecodeError> {
        check_header(b, KIND_JOB, JOB_LEN)?;
        zeros(b, field::JOB_RESERVED)?;
        let model = Model::from_byte(byte(b, field::MODEL))?;
        let kind = match byte(b, field::OPTION) {
            0 => OptionType::Call,
            1 => OptionType::Put,
            value => {
                return Err(DecodeError::Enum {
                    field: Field::Type,
                    value,
                });
            }
        };
        let tree = match byte(b, field::TREE) {
            0 => Lattice::CoxRossRubinstein,
            1 => Lattice::LeisenReimer,
            value => {
                return Err(DecodeError::Enum {
                    field: Field::Tree,
                    value,
                });
            }
        };
        Ok(Job {
            id: get_u64(b, field::ID.start),
            model,
            contract: Contract {
                kind,
                spot: get_f64(b, field::SPOT),
                strike: get_f64(b, field::STRIKE),
                rate: get_f64(b, field::RATE),
                div: get_f64(b, field::DIV),
                vol: get_f64(b, field::VOL),
                expiry: get_f64(b, field::EXPIRY),
            },
            tree,
            steps: get_u64(b, field::STEPS),
            paths: get_u64(b, field::PATHS),
            seed: get_u64(b, field::SEED),
            heston: HestonParams {
                kappa: get_f64(b, field::KAPPA),
                theta: get_f64(b, field::THETA),
                xi: get_f64(b, field::XI),
                rho: get_f64(b, field::RHO),
                v0: get_f64(b, field::V0),
            },
            deadline_ns: get_u64(b, field::DEADLINE),
        })
    }
}

/// Presence bits of a result's optional values.
const HAS_STDERR: u8 = 1;
const HAS_DELTA: u8 = 2;
const HAS_GAMMA: u8 = 4;
const HAS_VEGA: u8 = 8;
const HAS_THETA: u8 = 16;
const HAS_RHO: u8 = 32;
const HAS_STEPS: u8 = 64;

impl JobResult {
    /// Encodes the result (layout in the module docs).
    pub fn to_bytes(&self) -> [u8; RESULT_LEN] {
        let mut out = [0u8; RESULT_LEN];
        out[field::VERSION] = VERSION;
        out[field::KIND] = KIND_RESULT;
        out[field::STATUS] = self.status.to_byte();
        out[field::BAD_FIELD] = self.field.map_or(0, Field::code);
        put_u64(&mut out, field::ID.start, self.id);
        put_f64(&mut out, field::PRICE, self.price);
        put_f64(&mut out, field::VALUE, self.value);
        let mut present = 0u8;
        for (bit, at, v) in [
            (HAS_STDERR, field::STDERR, self.stderr),
            (HAS_DELTA, field::DELTA, self.delta),
            (HAS_GAMMA, field::GAMMA, self.gamma),
            (HAS_VEGA, field::VEGA, self.vega),
            (HAS_THETA, field::R_THETA, self.theta),
            (HAS_RHO, field::R_RHO, self.rho),
        ] {
            if let Some(v) = v {
                present |= bit;
                put_f64(&mut out, at, v);
            }
        }
        if let Some(steps) = self.steps {
            present |= HAS_STEPS;
            put_u64(&mut out, field::USED_STEPS, steps);
        }
        out[field::PRESENT] = present;
        out
    }

    /// Decodes a result record.
    pub fn from_bytes(b: &[u8]) -> Result<JobResult, DecodeError> {
        check_header(b, KIND_RESULT, RESULT_LEN)?;
        zeros(b, field::RESULT_RESERVED)?;
        let status = Status::from_byte(byte(b, field::STATUS))?;
        let field_code = byte(b, field::BAD_FIELD);
        let bad = match (status, field_code) {
            (Status::Invalid, code) => {
                Some(Field::from_code(code).ok_or(DecodeError::UnknownField(code))?)
            }
            (_, 0) => None,
            (_, _) => return Err(DecodeError::Reserved),
        };
        let present = byte(b, field::PRESENT);
        if present & !(HAS_STEPS * 2 - 1) != 0 {
            return Err(DecodeError::Enum {
                field: Field::Present,
                value: present,
            });
        }
        let opt = |bit: u8, at: usize| (present & bit != 0).then(|| get_f64(b, at));
        Ok(JobResult {
            id: get_u64(b, field::ID.start),
            status,
            field: bad,
            price: get_f64(b, field::PRICE),
            stderr: opt(HAS_STDERR, field::STDERR),
            delta: opt(HAS_DELTA, field::DELTA),
            gamma: opt(HAS_GAMMA, field::GAMMA),
            vega: opt(HAS_VEGA, field::VEGA),
            theta: opt(HAS_THETA, field::R_THETA),
            rho: opt(HAS_RHO, field::R_RHO),
            steps: (present & HAS_STEPS != 0).then(|| get_u64(b, field::USED_STEPS)),
            value: get_f64(b, field::VALUE),
        })
    }
}

impl Cancel {
    /// Encodes the cancel.
    pub fn to_bytes(&self) -> [u8; CANCEL_LEN] {
        let mut out = [0u8; CANCEL_LEN];
        out[field::VERSION] = VERSION;
        out[field::KIND] = KIND_CANCEL;
        put_u64(&mut out, field::ID.start, self.id);
        out
    }

    /// Decodes a cancel record.
    pub fn from_bytes(b: &[u8]) -> Result<Cancel, DecodeError> {
        check_header(b, KIND_CANCEL, CANCEL_LEN)?;
        zeros(b, field::CANCEL_RESERVED)?;
        Ok(Cancel {
            id: get_u64(b, field::ID.start),
        })
    }
}

impl Request {
    /// Decodes what a client sent: a job or a cancel, by the kind byte.
    pub fn from_bytes(b: &[u8]) -> Result<Request, DecodeError> {
        match b.get(field::KIND) {
            Some(&KIND_JOB) => Job::from_bytes(b).map(Request::Job),
            Some(&KIND_CANCEL) => Cancel::from_bytes(b).map(Request::Cancel),
            Some(&kind) if byte(b, field::VERSION) == VERSION => Err(DecodeError::Kind(kind)),
            Some(_) => Err(DecodeError::Version(byte(b, field::VERSION))),
            None => Err(DecodeError::Truncated {
                need: CANCEL_LEN,
                have: b.len(),
            }),
        }
    }

    /// The id in a record's header, when the record is long enough to have one (so a
    /// server can answer a job it cannot decode).
    pub fn id_of(b: &[u8]) -> Option<u64> {
        (b.len() >= field::ID.end).then(|| get_u64(b, field::ID.start))
    }
}

#[cfg(test)]
mod tests;
