//! Round-trip and hostile-bytes tests of the job protocol.

use super::*;
use proptest::prelude::*;

fn sample_job() -> Job {
    Job {
        id: 0x0102_0304_0506_0708,
        model: Model::AsianMc,
        contract: Contract {
            kind: OptionType::Put,
            spot: 100.0,
            strike: 95.0,
            rate: 0.05,
            div: 0.01,
            vol: 0.2,
            expiry: 0.5,
        },
        tree: Lattice::LeisenReimer,
        steps: 12,
        paths: 100_000,
        seed: 7,
        heston: HestonParams {
            kappa: 1.5,
            theta: 0.04,
            xi: 0.3,
            rho: -0.7,
            v0: 0.04,
        },
        deadline_ns: 5_000_000,
    }
}

#[test]
fn job_layout_is_fixed() {
    let b = sample_job().to_bytes();
    assert_eq!(&b[..8], &[1, 1, 3, 1, 1, 0, 0, 0]);
    assert_eq!(&b[8..16], &0x0102_0304_0506_0708u64.to_le_bytes());
    assert_eq!(&b[16..24], &5_000_000u64.to_le_bytes());
    assert_eq!(&b[24..32], &100.0f64.to_bits().to_le_bytes());
    assert_eq!(&b[80..88], &100_000u64.to_le_bytes());
    assert_eq!(&b[128..136], &0.04f64.to_bits().to_le_bytes());
    assert_eq!(Job::from_bytes(&b), Ok(sample_job()));
}

#[test]
fn result_and_cancel_layouts_are_fixed() {
    let r = JobResult {
        price: 1.25,
        stderr: Some(0.01),
        steps: Some(501),
        ..JobResult::empty(9, Status::Done)
    };
    let b = r.to_bytes();
    assert_eq!(&b[..8], &[1, 2, 0, 0, HAS_STDERR | HAS_STEPS, 0, 0, 0]);
    assert_eq!(&b[72..80], &501u64.to_le_bytes());
    assert_eq!(JobResult::from_bytes(&b), Ok(r));
    let inv = JobResult::invalid(3, Field::V0, -1.0);
    let b = inv.to_bytes();
    assert_eq!(b[2], 4);
    assert_eq!(b[3], 17);
    assert_eq!(JobResult::from_bytes(&b), Ok(inv));
    let c = Cancel { id: 42 };
    assert_eq!(
        c.to_bytes(),
        [1, 3, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(Request::from_bytes(&c.to_bytes()), Ok(Request::Cancel(c)));
}

#[test]
fn hostile_job_bytes_are_typed_errors() {
    let good = sample_job().to_bytes();
    assert_eq!(
        Job::from_bytes(&good[..100]),
        Err(DecodeError::Truncated {
            need: 136,
            have: 100
        })
    );
    let mut long = good.to_vec();
    long.push(0);
    assert_eq!(
        Job::from_bytes(&long),
        Err(DecodeError::Length {
            kind: 1,
            expected: 136,
            have: 137
        })
    );
    let with = |at: usize, v: u8| {
        let mut b = good;
        b[at] = v;
        Job::from_bytes(&b)
    };
    assert_eq!(with(0, 2), Err(DecodeError::Version(2)));
    assert_eq!(with(1, 9), Err(DecodeError::Kind(9)));
    assert_eq!(
        with(2, 0),
        Err(DecodeError::Enum {
            field: Field::Model,
            value: 0
        })
    );
    assert_eq!(
        with(3, 2),
        Err(DecodeError::Enum {
            field: Field::Type,
            value: 2
        })
    );
    assert_eq!(
        with(4, 7),
        Err(DecodeError::Enum {
            field: Field::Tree,
            value: 7
        })
    );
    assert_eq!(with(6, 1), Err(DecodeError::Reserved));
    assert_eq!(
        with(2, 0).err().and_then(|e| e.invalid_field()),
        Some(Field::Model)
    );
    assert_eq!(with(6, 1).err().and_then(|e| e.invalid_field()), None);
    assert_eq!(
        Request::from_bytes(&[]),
        Err(DecodeError::Truncated { need: 16, have: 0 })
    );
    assert_eq!(Request::from_bytes(&[1, 2]), Err(DecodeError::Kind(2)));
    assert_eq!(Request::from_bytes(&[0, 1]), Err(DecodeError::Version(0)));
    assert_eq!(Request::id_of(&good), Some(0x0102_0304_0506_0708));
    assert_eq!(Request::id_of(&good[..15]), None);
}

#[test]
fn hostile_result_bytes_are_typed_errors() {
    let good = JobResult::empty(1, Status::Busy).to_bytes();
    let with = |at: usize, v: u8| {
        let mut b = good;
        b[at] = v;
        JobResult::from_bytes(&b)
    };
    assert_eq!(
        with(2, 6),
        Err(DecodeError::Enum {
            field: Field::Status,
            value: 6
        })
    );
    assert_eq!(with(3, 1), Err(DecodeError::Reserved));
    assert_eq!(
        with(4, 0x80),
        Err(DecodeError::Enum {
            field: Field::Present,
            value: 0x80
        })
    );
    assert_eq!(with(7, 1), Err(DecodeError::Reserved));
    let mut inv = JobResult::invalid(1, Field::Spot, 0.0).to_bytes();
    inv[3] = 0;
    assert_eq!(
        JobResult::from_bytes(&inv),
        Err(DecodeError::UnknownField(0))
    );
    inv[3] = 200;
    assert_eq!(
        JobResult::from_bytes(&inv),
        Err(DecodeError::UnknownField(200))
    );
}

#[test]
fn field_names_round_trip() {
    for f in FIELDS {
        assert_eq!(Field::from_name(f.name()), Some(f));
        assert_eq!(Field::from_code(f.code()), Some(f));
    }
    assert_eq!(Field::from_name("nope"), None);
}

fn model() -> impl Strategy<Value = Model> {
    prop_oneof![
        Just(Model::BlackScholes),
        Just(Model::American),
        Just(Model::AsianMc),
        Just(Model::Heston)
    ]
}

fn opt() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(any::<f64>().prop_filter("NaN never equals itself", |x| !x.is_nan()))
}

proptest! {
    #[test]
    fn job_round_trips(
        id: u64, m in model(), put: bool, lr: bool,
        f in proptest::array::uniform11(-1e6f64..1e6),
        steps: u64, paths: u64, seed: u64, deadline_ns: u64,
    ) {
        let job = Job {
            id,
            model: m,
            contract: Contract {
                kind: if put { OptionType::Put } else { OptionType::Call },
                spot: f[0], strike: f[1], rate: f[2], div: f[3], vol: f[4], expiry: f[5],
            },
            tree: if lr { Lattice::LeisenReimer } else { Lattice::CoxRossRubinstein },
            steps, paths, seed,
            heston: HestonParams { kappa: f[6], theta: f[7], xi: f[8], rho: f[9], v0: f[10] },
            deadline_ns,
        };
        prop_assert_eq!(Job::from_bytes(&job.to_bytes()), Ok(job));
        prop_assert_eq!(Request::from_bytes(&job.to_bytes()), Ok(Request::Job(job)));
    }

    #[test]
    fn result_round_trips(
        id: u64, s in 0u8..6, code in 1u8..=20, price in -1e9f64..1e9,
        stderr in opt(), delta in opt(), gamma in opt(), vega in opt(), theta in opt(),
        rho in opt(), steps in proptest::option::of(any::<u64>()), value in -1e9f64..1e9,
    ) {
        let status = Status::from_byte(s).unwrap_or(Status::Done);
        let r = JobResult {
            id, status,
            field: (status == Status::Invalid).then(|| Field::from_code(code)).flatten(),
            price, stderr, delta, gamma, vega, theta, rho, steps, value,
        };
        prop_assert_eq!(JobResult::from_bytes(&r.to_bytes()), Ok(r));
    }

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        let _ = Request::from_bytes(&bytes);
        let _ = JobResult::from_bytes(&bytes);
        if let Ok(job) = Job::from_bytes(&bytes) {
            prop_assert_eq!(&job.to_bytes()[..], &bytes[..]);
        }
    }
}
