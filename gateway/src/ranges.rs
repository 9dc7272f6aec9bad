//! Range checks of numeric configuration keys, run on the parsed TOML before it is
//! deserialized, so that a typo is refused with the key, the value as written and the
//! allowed range (`risk.max_orders_per_day = 1e13 is out of range 1..=10_000_000`)
//! instead of a serde message without the key, or a huge allocation later. Floats and
//! negative numbers where a count is expected are named the same way.
//!
//! A [`KeyRange`] names its key with dots for tables and `[]` for the elements of an
//! array (of tables or of integers): `journal.segment_mib`, `accounts[].credit_limit`,
//! `restricted[]`. Keys that are absent are not checked (their defaults are in range).
//!
//! This module reads no file and allocates only for an error message.

use std::fmt;

/// An inclusive range of integers allowed for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// The key (see the module docs for the path syntax).
    pub key: &'static str,
    /// Smallest allowed value.
    pub min: i64,
    /// Largest allowed value.
    pub max: i64,
}

impl KeyRange {
    /// `key` allowed in `min..=max`.
    pub const fn new(key: &'static str, min: i64, max: i64) -> KeyRange {
        KeyRange { key, min, max }
    }
}

/// A numeric key outside its range, or not an integer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value} {problem} {range}")]
pub struct RangeError {
    /// The full key, array positions included (`accounts[1].max_position`).
    pub key: String,
    /// The value as TOML shows it.
    pub value: String,
    /// "is out of range" or "must be an integer in".
    pub problem: &'static str,
    /// The allowed range, `min..=max`.
    pub range: String,
}

/// Checks every key of `ranges` in `table`; `prefix` is put before the key in errors
/// (`"risk."` for the limits of a risk file).
pub fn check(table: &toml::Table, prefix: &str, ranges: &[KeyRange]) -> Result<(), RangeError> {
    for range in ranges {
        let parts: Vec<&str> = range.key.split('.').collect();
        walk_table(table, &parts, prefix.to_owned(), range)?;
    }
    Ok(())
}

fn walk_table(
    table: &toml::Table,
    parts: &[&str],
    path: String,
    range: &KeyRange,
) -> Result<(), RangeError> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(());
    };
    let (name, each) = match first.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (*first, false),
    };
    let Some(value) = table.get(name) else {
        return Ok(());
    };
    let path = format!("{path}{name}");
    match (each, value) {
        (true, toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, rest, format!("{path}[{i}]"), range)?;
            }
            Ok(())
        }
        // Not an array where one is expected: deserialization names that.
        (true, _) => Ok(()),
        (false, value) => walk_value(value, rest, path, range),
    }
}

fn walk_value(
    value: &toml::Value,
    rest: &[&str],
    path: String,
    range: &KeyRange,
) -> Result<(), RangeError> {
    if rest.is_empty() {
        return check_value(value, path, range);
    }
    match value {
        toml::Value::Table(t) => walk_table(t, rest, format!("{path}."), range),
        _ => Ok(()),
    }
}

fn check_value(value: &toml::Value, key: String, range: &KeyRange) -> Result<(), RangeError> {
    let error = |value: String, problem| RangeError {
        key: key.clone(),
        value,
        problem,
        range: format!("{}..={}", Grouped(range.min), Grouped(range.max)),
    };
    match value {
        toml::Value::Integer(i) if (range.min..=range.max).contains(i) => Ok(()),
        toml::Value::Integer(i) => Err(error(i.to_string(), "is out of range")),
        toml::Value::Float(f) => {
            let shown = show_float(*f);
            // `as` saturates, and NaN becomes 0: both only pick the wording.
            let inside = f.is_finite() && (range.min..=range.max).contains(&(*f as i64));
            if inside {
                Err(error(shown, "must be an integer in"))
            } else {
                Err(error(shown, "is out of range"))
            }
        }
        // Strings, booleans...: deserialization names the type error.
        _ => Ok(()),
    }
}

/// A float as an operator would have written it: `1e13`, `2.5`.
fn show_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() >= 1e6 {
        format!("{f:e}")
    } else {
        f.to_string()
    }
}

/// An integer with `_` every three digits from 10,000 on, as Rust and TOML write them.
struct Grouped(i64);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        if digits.len() <= 4 {
            return f.write_str(&digits);
        }
        let head = digits.len() % 3;
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && i >= head && (i - head) % 3 == 0 {
                out.push('_');
            }
            out.push(c);
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGES: &[KeyRange] = &[
        KeyRange::new("max_orders_per_day", 1, 10_000_000),
        KeyRange::new("throttle.burst", 1, 1_000_000),
        KeyRange::new("accounts[].max_position", 0, 1_000_000_000_000),
        KeyRange::new("restricted[]", 0, u32::MAX as i64),
    ];

    fn run(text: &str) -> Result<(), String> {
        let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
        check(&table, "risk.", RANGES).map_err(|e| e.to_string())
    }

    #[test]
    fn out_of_range_values_name_the_key_and_the_range() {
        assert_eq!(
            run("max_orders_per_day = 1e13"),
            Err("risk.max_orders_per_day = 1e13 is out of range 1..=10_000_000".to_owned())
        );
        assert_eq!(
            run("max_orders_per_day = 0"),
            Err("risk.max_orders_per_day = 0 is out of range 1..=10_000_000".to_owned())
        );
        assert_eq!(
            run("max_orders_per_day = -5"),
            Err("risk.max_orders_per_day = -5 is out of range 1..=10_000_000".to_owned())
        );
        assert_eq!(
            run("max_orders_per_day = 9223372036854775807"),
            Err(
                "risk.max_orders_per_day = 9223372036854775807 is out of range 1..=10_000_000"
                    .to_owned()
            )
        );
        assert_eq!(
            run("max_orders_per_day = 2.5"),
            Err("risk.max_orders_per_day = 2.5 must be an integer in 1..=10_000_000".to_owned())
        );
        assert_eq!(
            run("max_orders_per_day = nan"),
            Err("risk.max_orders_per_day = NaN is out of range 1..=10_000_000".to_owned())
        );
        assert_eq!(
            run("[throttle]\nburst = 0"),
            Err("risk.throttle.burst = 0 is out of range 1..=1_000_000".to_owned())
        );
        assert_eq!(
            run("[[accounts]]\nmax_position = 1\n[[accounts]]\nmax_position = -1"),
            Err(
                "risk.accounts[1].max_position = -1 is out of range 0..=1_000_000_000_000"
                    .to_owned()
            )
        );
        assert_eq!(
            run("restricted = [1, -2]"),
            Err("risk.restricted[1] = -2 is out of range 0..=4_294_967_295".to_owned())
        );
    }

    #[test]
    fn values_in_range_and_absent_keys_pass() {
        assert_eq!(
            run("max_orders_per_day = 10000000\nrestricted = [1]"),
            Ok(())
        );
        assert_eq!(run(""), Ok(()));
        // A type error is left to deserialization, which names it.
        assert_eq!(run("max_orders_per_day = \"x\""), Ok(()));
    }

    #[test]
    fn grouping() {
        assert_eq!(Grouped(1).to_string(), "1");
        assert_eq!(Grouped(9999).to_string(), "9999");
        assert_eq!(Grouped(10_000).to_string(), "10_000");
        assert_eq!(Grouped(-1_000_000).to_string(), "-1_000_000");
        assert_eq!(Grouped(i64::MIN).to_string(), "-9_223_372_036_854_775_808");
    }
}
