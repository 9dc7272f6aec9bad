//! The commands of `tickwarp fix-client`, parsed from one line of text. Parsing only: no
//! session, no I/O; a bad line becomes a [`CommandError`] that says what is wrong, for
//! the usage line on stderr.

use tickwarp_gateway::fix::codec::{parse_price, parse_qty};
use tickwarp_wire::{Price, Qty};

/// The usage summary printed by `help` and after a bad command.
pub(super) const USAGE: &str = "commands: buy|sell QTY SYMBOL [@ PRICE] [post-only|ioc|fok|gtc] | \
cancel ID | cancel all [SYMBOL] | replace ID [qty QTY] [@ PRICE] | status ID | status all | \
positions | help | quit";

/// Side (54) of an order command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    /// 54=1.
    Buy,
    /// 54=2.
    Sell,
}

impl Side {
    /// The FIX value.
    pub(super) fn to_wire(self) -> u8 {
        match self {
            Side::Buy => b'1',
            Side::Sell => b'2',
        }
    }

    /// The word printed for it.
    pub(super) fn word(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// TimeInForce (59) and ExecInst (18) choices of a new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Instruction {
    /// Day (59=0), the default.
    Day,
    /// Good till cancel (59=1).
    Gtc,
    /// Immediate or cancel (59=3).
    Ioc,
    /// Fill or kill (59=4).
    Fok,
    /// Day with ExecInst 6 (participate don't initiate): adds liquidity only.
    PostOnly,
}

impl Instruction {
    /// TimeInForce (59).
    pub(super) fn tif(self) -> u8 {
        match self {
            Instruction::Day | Instruction::PostOnly => b'0',
            Instruction::Gtc => b'1',
            Instruction::Ioc => b'3',
            Instruction::Fok => b'4',
        }
    }
}

/// A new order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Order {
    /// Buy or sell.
    pub(super) side: Side,
    /// OrderQty (38).
    pub(super) qty: Qty,
    /// Symbol (55).
    pub(super) symbol: String,
    /// Limit price (44); `None` is a market order (40=1).
    pub(super) price: Option<Price>,
    /// Time in force or post-only.
    pub(super) instruction: Instruction,
}

/// One parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Command {
    /// NewOrderSingle (D).
    New(Order),
    /// OrderCancelRequest (F) of an order by the ID printed for it.
    Cancel(String),
    /// OrderMassCancelRequest (q): all orders (type 7) or those of one symbol (type 1).
    CancelAll(Option<String>),
    /// OrderCancelReplaceRequest (G): new quantity and/or price.
    Replace {
        /// The order, by the ID printed for it.
        id: String,
        /// New OrderQty (38), if changed.
        qty: Option<Qty>,
        /// New Price (44), if changed.
        price: Option<Price>,
    },
    /// OrderStatusRequest (H).
    Status(String),
    /// OrderMassStatusRequest (AF), MassStatusReqType 7 (all orders).
    StatusAll,
    /// RequestForPositions (AN), PosReqType 0 (positions).
    Positions,
    /// Print the usage.
    Help,
    /// Log out and exit (as at end of input).
    Quit,
}

/// Why a line is not a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum CommandError {
    /// Not a known command word.
    #[error("unknown command `{0}`")]
    Unknown(String),
    /// A known command with missing, extra or malformed words.
    #[error("{0}")]
    Usage(&'static str),
    /// A quantity that is not a positive whole number.
    #[error("bad quantity `{0}`: a whole number above 0")]
    Qty(String),
    /// A price that is not a positive decimal with at most 4 decimals.
    #[error("bad price `{0}`: a positive decimal with at most 4 decimals")]
    Price(String),
}

fn qty(word: &str) -> Result<Qty, CommandError> {
    parse_qty(word.as_bytes())
        .filter(|q| !q.is_zero())
        .ok_or_else(|| CommandError::Qty(word.to_owned()))
}

fn price(word: &str) -> Result<Price, CommandError> {
    parse_price(word.as_bytes())
        .filter(|p| *p > Price::ZERO)
        .ok_or_else(|| CommandError::Price(word.to_owned()))
}

/// A symbol or an ID: graphic ASCII, at most `max` bytes.
fn token(word: &str, max: usize, what: &'static str) -> Result<String, CommandError> {
    if word.is_empty() || word.len() > max || !word.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CommandError::Usage(what));
    }
    Ok(word.to_owned())
}

const ORDER_USAGE: &str = "usage: buy|sell QTY SYMBOL [@ PRICE] [post-only|ioc|fok|gtc]";
const REPLACE_USAGE: &str = "usage: replace ID [qty QTY] [@ PRICE]";
const ID_USAGE: &str = "an order ID is the one printed for it (1 to 16 graphic characters)";
const SYMBOL_USAGE: &str = "a symbol is 1 to 32 graphic characters";

/// The words of a line, with `@100` split into `@` and `100`.
fn words(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for w in line.split_whitespace() {
        match w.strip_prefix('@') {
            Some(rest) if !rest.is_empty() => {
                out.push("@");
                out.push(rest);
            }
            _ => out.push(w),
        }
    }
    out
}

/// Parses one command (already split at `;`); `Ok(None)` for a blank line or a comment.
pub(super) fn parse(line: &str) -> Result<Option<Command>, CommandError> {
    let line = line.split('#').next().unwrap_or_default();
    let w = words(line);
    let Some((&first, rest)) = w.split_first() else {
        return Ok(None);
    };
    let cmd = match (first.to_ascii_lowercase().as_str(), rest) {
        ("buy", rest) => Command::New(order(Side::Buy, rest)?),
        ("sell", rest) => Command::New(order(Side::Sell, rest)?),
        ("cancel", ["all"]) => Command::CancelAll(None),
        ("cancel", ["all", symbol]) => Command::CancelAll(Some(token(symbol, 32, SYMBOL_USAGE)?)),
        ("cancel", [id]) => Command::Cancel(token(id, 16, ID_USAGE)?),
        ("cancel", _) => {
            return Err(CommandError::Usage(
                "usage: cancel ID | cancel all [SYMBOL]",
            ));
        }
        ("replace", [id, changes @ ..]) => replace(id, changes)?,
        ("replace", _) => return Err(CommandError::Usage(REPLACE_USAGE)),
        ("status", ["all"]) => Command::StatusAll,
        ("status", [id]) => Command::Status(token(id, 16, ID_USAGE)?),
        ("status", _) => return Err(CommandError::Usage("usage: status ID | status all")),
        ("positions", []) => Command::Positions,
        ("help", []) => Command::Help,
        ("quit" | "exit", []) => Command::Quit,
        ("positions" | "help" | "quit" | "exit", _) => {
            return Err(CommandError::Usage("this command takes no arguments"));
        }
        (other, _) => return Err(CommandError::Unknown(other.to_owned())),
    };
    Ok(Some(cmd))
}

fn order(side: Side, rest: &[&str]) -> Result<Order, CommandError> {
    let (q, symbol, mut rest) = match rest {
        [q, symbol, rest @ ..] => (qty(q)?, token(symbol, 32, SYMBOL_USAGE)?, rest),
        _ => return Err(CommandError::Usage(ORDER_USAGE)),
    };
    let mut limit = None;
    if let ["@", p, more @ ..] = rest {
        limit = Some(price(p)?);
        rest = more;
    }
    let instruction = match rest {
        [] => Instruction::Day,
        [word] => match word.to_ascii_lowercase().as_str() {
            "day" => Instruction::Day,
            "gtc" => Instruction::Gtc,
            "ioc" => Instruction::Ioc,
            "fok" => Instruction::Fok,
            "post-only" => Instruction::PostOnly,
            _ => return Err(CommandError::Usage(ORDER_USAGE)),
        },
        _ => return Err(CommandError::Usage(ORDER_USAGE)),
    };
    if instruction == Instruction::PostOnly && limit.is_none() {
        return Err(CommandError::Usage(
            "post-only needs a limit price (@ PRICE)",
        ));
    }
    Ok(Order {
        side,
        qty: q,
        symbol,
        price: limit,
        instruction,
    })
}

fn replace(id: &str, changes: &[&str]) -> Result<Command, CommandError> {
    let id = token(id, 16, ID_USAGE)?;
    let (mut new_qty, mut new_price) = (None, None);
    let mut rest = changes;
    loop {
        match rest {
            [] => break,
            ["qty", q, more @ ..] if new_qty.is_none() => {
                new_qty = Some(qty(q)?);
                rest = more;
            }
            ["@", p, more @ ..] if new_price.is_none() => {
                new_price = Some(price(p)?);
                rest = more;
            }
            _ => return Err(CommandError::Usage(REPLACE_USAGE)),
        }
    }
    if new_qty.is_none() && new_price.is_none() {
        return Err(CommandError::Usage(REPLACE_USAGE));
    }
    Ok(Command::Replace {
        id,
        qty: new_qty,
        price: new_price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(s: &str) -> Price {
        parse_price(s.as_bytes()).unwrap()
    }

    #[test]
    fn orders_parse_with_price_and_instruction() {
        let got = parse("buy 100 ACME @ 100.05 post-only").unwrap().unwrap();
        assert_eq!(
            got,
            Command::New(Order {
                side: Side::Buy,
                qty: Qty(100),
                symbol: "ACME".into(),
                price: Some(px("100.05")),
                instruction: Instruction::PostOnly,
            })
        );
        let got = parse("SELL 5 INIT @25.5 ioc").unwrap().unwrap();
        assert!(
            matches!(got, Command::New(Order { side: Side::Sell, instruction: Instruction::Ioc, price: Some(p), .. }) if p == px("25.5"))
        );
        let got = parse("buy 7 ACME").unwrap().unwrap();
        assert!(matches!(
            got,
            Command::New(Order {
                price: None,
                instruction: Instruction::Day,
                ..
            })
        ));
    }

    #[test]
    fn the_other_commands_parse() {
        assert_eq!(
            parse("cancel a1").unwrap(),
            Some(Command::Cancel("a1".into()))
        );
        assert_eq!(parse("cancel all").unwrap(), Some(Command::CancelAll(None)));
        assert_eq!(
            parse("cancel all ACME").unwrap(),
            Some(Command::CancelAll(Some("ACME".into())))
        );
        assert_eq!(
            parse("replace a1 qty 50 @ 99").unwrap(),
            Some(Command::Replace {
                id: "a1".into(),
                qty: Some(Qty(50)),
                price: Some(px("99"))
            })
        );
        assert_eq!(
            parse("replace a1 @ 99").unwrap(),
            Some(Command::Replace {
                id: "a1".into(),
                qty: None,
                price: Some(px("99"))
            })
        );
        assert_eq!(
            parse("status a1").unwrap(),
            Some(Command::Status("a1".into()))
        );
        assert_eq!(parse("status all").unwrap(), Some(Command::StatusAll));
        assert_eq!(parse("positions").unwrap(), Some(Command::Positions));
        assert_eq!(parse("help").unwrap(), Some(Command::Help));
        assert_eq!(parse("quit").unwrap(), Some(Command::Quit));
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("# a comment").unwrap(), None);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let cases = [
            "frobnicate 1",
            "buy",
            "buy 0 ACME @ 1",
            "buy -5 ACME @ 1",
            "buy 1.5 ACME @ 1",
            "buy 10 ACME @ 0",
            "buy 10 ACME @ 1.00001",
            "buy 10 ACME @",
            "buy 10 ACME @ 5 ioc fok",
            "buy 10 ACME post-only",
            "buy 10 ACME @ 5 sometimes",
            "cancel",
            "cancel a1 a2",
            "replace a1",
            "replace a1 qty",
            "replace a1 qty 5 qty 6",
            "status",
            "positions now",
            "cancel 0123456789abcdefX",
        ];
        for line in cases {
            assert!(parse(line).is_err(), "{line:?} parsed");
        }
        assert_eq!(
            parse("buy 0 ACME").unwrap_err(),
            CommandError::Qty("0".into())
        );
    }
}
