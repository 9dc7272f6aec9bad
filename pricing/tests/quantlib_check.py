#!/usr/bin/env python3
"""Prices a grid of contracts with QuantLib, the oracle for tests/quantlib.rs.

Reads one JSON object from stdin: {"european": [...], "american": [...], "heston": [...]},
each contract {"kind": "call"|"put", "spot", "strike", "rate", "div", "vol", "days"}
(expiry = days/365 on Actual/365 Fixed, flat continuously compounded curves), American
ones with "steps", Heston ones with "kappa", "theta", "xi", "rho", "v0". Writes one JSON
object with the same keys: for European {"price", "delta", "gamma", "vega", "theta",
"rho"} (QuantLib's AnalyticEuropeanEngine: vega per 1.00 vol, theta per year, rho per 1.00
rate), for American {"price"} (BinomialVanillaEngine, "crr", same steps), {"fd"}
(FdBlackScholesVanillaEngine, 1000 x 1000) and {"lr_european"} (the European
exercise on BinomialVanillaEngine, "lr", same steps), for Heston
{"price"} (AnalyticHestonEngine). Exits 3 when QuantLib cannot be imported.
"""

import json
import sys

try:
    import QuantLib as ql
except ImportError as err:  # the Rust test turns this into a SKIP (or a failure under CI)
    print(f"QuantLib not importable: {err}", file=sys.stderr)
    sys.exit(3)

TODAY = ql.Date(2, 1, 2024)
ql.Settings.instance().evaluationDate = TODAY
DC = ql.Actual365Fixed()
CAL = ql.NullCalendar()


def curve(rate):
    return ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, DC, ql.Continuous))


def option(c, exercise):
    kind = ql.Option.Call if c["kind"] == "call" else ql.Option.Put
    payoff = ql.PlainVanillaPayoff(kind, c["strike"])
    maturity = TODAY + int(c["days"])
    ex = ql.EuropeanExercise(maturity) if exercise == "european" else ql.AmericanExercise(TODAY, maturity)
    return ql.VanillaOption(payoff, ex)


def bsm(c):
    vol = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, CAL, c["vol"], DC))
    return ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(c["spot"])), curve(c["div"]), curve(c["rate"]), vol
    )


def european(c):
    opt = option(c, "european")
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(bsm(c)))
    return {
        "price": opt.NPV(),
        "delta": opt.delta(),
        "gamma": opt.gamma(),
        "vega": opt.vega(),
        "theta": opt.theta(),
        "rho": opt.rho(),
    }


def american(c):
    opt = option(c, "american")
    opt.setPricingEngine(ql.BinomialVanillaEngine(bsm(c), "crr", int(c["steps"])))
    crr = opt.NPV()
    opt.setPricingEngine(ql.FdBlackScholesVanillaEngine(bsm(c), 1000, 1000))
    fd = opt.NPV()
    euro = option(c, "european")
    euro.setPricingEngine(ql.BinomialVanillaEngine(bsm(c), "lr", int(c["steps"])))
    return {"price": crr, "fd": fd, "lr_european": euro.NPV()}


def heston(c):
    process = ql.HestonProcess(
        curve(c["rate"]), curve(c["div"]), ql.QuoteHandle(ql.SimpleQuote(c["spot"])),
        c["v0"], c["kappa"], c["theta"], c["xi"], c["rho"],
    )
    opt = option(c, "european")
    opt.setPricingEngine(ql.AnalyticHestonEngine(ql.HestonModel(process)))
    return {"price": opt.NPV()}


def main():
    grid = json.load(sys.stdin)
    out = {
        "quantlib": ql.__version__,
        "european": [european(c) for c in grid.get("european", [])],
        "american": [american(c) for c in grid.get("american", [])],
        "heston": [heston(c) for c in grid.get("heston", [])],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
