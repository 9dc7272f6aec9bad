//! Property tests: put–call parity, Greeks against finite differences, implied-volatility
//! round trip, tree and Monte Carlo consistency, and thread-count independence.

use proptest::prelude::*;
use tickwarp_pricing::{
    Contract, Exercise, OptionType, PricingError, asian_arithmetic_mc, black_scholes, crr,
    european_mc, implied_vol,
};

fn contracts() -> impl Strategy<Value = Contract> {
    (
        20.0..200.0f64,
        0.5..1.5f64,
        -0.02..0.12f64,
        0.0..0.08f64,
        0.05..0.8f64,
        0.05..3.0f64,
    )
        .prop_flat_map(|(spot, m, rate, div, vol, expiry)| {
            prop_oneof![Just(OptionType::Call), Just(OptionType::Put)].prop_map(move |kind| {
                Contract {
                    kind,
                    spot,
                    strike: spot * m,
                    rate,
                    div,
                    vol,
                    expiry,
                }
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// c − p = S e^{−qT} − K e^{−rT} (Hull eq. 17.10 with dividend yield).
    #[test]
    fn put_call_parity(c in contracts()) {
        let call = black_scholes(&Contract { kind: OptionType::Call, ..c }).unwrap();
        let put = black_scholes(&Contract { kind: OptionType::Put, ..c }).unwrap();
        let fwd = c.spot * c.df_div() - c.strike * c.df_rate();
        prop_assert!((call.price - put.price - fwd).abs() < 1e-10 * c.spot);
        prop_assert!((call.greeks.delta - put.greeks.delta - c.df_div()).abs() < 1e-12);
        prop_assert!((call.greeks.gamma - put.greeks.gamma).abs() < 1e-12);
        prop_assert!((call.greeks.vega - put.greeks.vega).abs() < 1e-9 * c.spot);
    }

    /// Each Greek agrees with a central finite difference of the price.
    #[test]
    fn greeks_match_finite_differences(c in contracts()) {
        let g = black_scholes(&c).unwrap().greeks;
        let pv = |x: Contract| black_scholes(&x).unwrap().price;
        let h = 1e-4 * c.spot;
        let up = Contract { spot: c.spot + h, ..c };
        let dn = Contract { spot: c.spot - h, ..c };
        let fd_delta = (pv(up) - pv(dn)) / (2.0 * h);
        let fd_gamma = (pv(up) - 2.0 * pv(c) + pv(dn)) / (h * h);
        let e = 1e-5;
        let fd_vega = (pv(Contract { vol: c.vol + e, ..c }) - pv(Contract { vol: c.vol - e, ..c })) / (2.0 * e);
        let fd_rho = (pv(Contract { rate: c.rate + e, ..c }) - pv(Contract { rate: c.rate - e, ..c })) / (2.0 * e);
        // theta = dV/dt = −dV/dT.
        let fd_theta = -(pv(Contract { expiry: c.expiry + e, ..c }) - pv(Contract { expiry: c.expiry - e, ..c })) / (2.0 * e);
        let tol = |x: f64| 1e-5 * (1.0 + x.abs());
        prop_assert!((g.delta - fd_delta).abs() < tol(g.delta), "delta {} vs {}", g.delta, fd_delta);
        prop_assert!((g.gamma - fd_gamma).abs() < 1e-4 * (1.0 + g.gamma.abs()), "gamma {} vs {}", g.gamma, fd_gamma);
        prop_assert!((g.vega - fd_vega).abs() < tol(g.vega), "vega {} vs {}", g.vega, fd_vega);
        prop_assert!((g.rho - fd_rho).abs() < tol(g.rho), "rho {} vs {}", g.rho, fd_rho);
        prop_assert!((g.theta - fd_theta).abs() < tol(g.theta), "theta {} vs {}", g.theta, fd_theta);
    }

    /// implied_vol(black_scholes(σ)) = σ wherever vega is not negligible.
    #[test]
    fn implied_vol_round_trip(c in contracts()) {
        let p = black_scholes(&c).unwrap();
        prop_assume!(p.greeks.vega > 1e-3 * c.spot);
        let iv = implied_vol(&c, p.price).unwrap();
        prop_assert!((iv - c.vol).abs() < 1e-8, "iv {} vs {}", iv, c.vol);
    }

    /// American ≥ European on the same tree, and the American put ≥ intrinsic.
    #[test]
    fn american_dominates_european(c in contracts()) {
        let am = crr(&c, Exercise::American, 200).unwrap().price;
        let eu = crr(&c, Exercise::European, 200).unwrap().price;
        prop_assert!(am >= eu - 1e-12);
        prop_assert!(am >= c.kind.payoff(c.spot, c.strike) - 1e-12);
    }
}

/// The same seed gives the bit-identical estimate on 1, 2 and 3 threads.
#[test]
fn monte_carlo_is_independent_of_thread_count() {
    let c = Contract {
        kind: OptionType::Call,
        spot: 100.0,
        strike: 100.0,
        rate: 0.05,
        div: 0.0,
        vol: 0.2,
        expiry: 1.0,
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            (
                european_mc(&c, 50_001, 3).unwrap(),
                asian_arithmetic_mc(&c, 12, 20_003, 3).unwrap(),
            )
        })
    };
    let one = run(1);
    for threads in [2, 3] {
        let other = run(threads);
        assert_eq!(
            one.0.price.to_bits(),
            other.0.price.to_bits(),
            "{threads} threads"
        );
        assert_eq!(one.0.std_error.to_bits(), other.0.std_error.to_bits());
        assert_eq!(
            one.1.price.to_bits(),
            other.1.price.to_bits(),
            "{threads} threads"
        );
    }
    // A different seed gives a different estimate.
    assert_ne!(european_mc(&c, 50_001, 4).unwrap().price, one.0.price);
}

/// Bad inputs are typed errors naming the field, never NaN.
#[test]
fn bad_inputs_name_the_field() {
    let ok = Contract {
        kind: OptionType::Put,
        spot: 100.0,
        strike: 100.0,
        rate: 0.05,
        div: 0.0,
        vol: 0.2,
        expiry: 1.0,
    };
    let cases = [
        (Contract { vol: -0.2, ..ok }, "vol"),
        (
            Contract {
                vol: f64::NAN,
                ..ok
            },
            "vol",
        ),
        (Contract { expiry: 0.0, ..ok }, "expiry"),
        (
            Contract {
                spot: f64::INFINITY,
                ..ok
            },
            "spot",
        ),
        (Contract { strike: -1.0, ..ok }, "strike"),
        (
            Contract {
                rate: f64::NAN,
                ..ok
            },
            "rate",
        ),
    ];
    for (c, field) in cases {
        assert_eq!(black_scholes(&c).unwrap_err().field(), Some(field));
        assert_eq!(
            crr(&c, Exercise::American, 100).unwrap_err().field(),
            Some(field)
        );
        assert_eq!(european_mc(&c, 100, 1).unwrap_err().field(), Some(field));
    }
    assert!(matches!(
        crr(&ok, Exercise::American, 0),
        Err(PricingError::OutOfRange { field: "steps", .. })
    ));
    assert!(matches!(
        european_mc(&ok, 1, 1),
        Err(PricingError::OutOfRange { field: "paths", .. })
    ));
    // Too few steps for a high rate and low volatility: p would exceed 1.
    let steep = Contract {
        rate: 0.5,
        vol: 0.01,
        expiry: 10.0,
        ..ok
    };
    assert!(matches!(
        crr(&steep, Exercise::American, 2),
        Err(PricingError::TreeProbability { .. })
    ));
}
