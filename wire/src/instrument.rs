//! The instrument table: symbol ↔ [`InstrumentId`], loaded from configuration.
//!
//! Symbols are 1 to 8 ASCII characters as in ITCH 5.0 (Stock, 8 bytes, right-padded with
//! spaces): letters, digits, `.`, `-` and `/`. Id 0 is reserved ([`InstrumentId::NONE`]).
//! In configuration the table is a list of `{ symbol, id }` entries. Panic contract: no
//! function here panics on any input. This module has no I/O (the caller reads the file
//! and hands the parsed value over) and is not for the hot path (it hashes and allocates).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::units::InstrumentId;

/// An instrument symbol: 1 to 8 ASCII letters, digits, `.`, `-` or `/`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol {
    bytes: [u8; Symbol::MAX_LEN],
    len: u8,
}

/// Why a symbol was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The symbol was empty (or all padding).
    #[error("empty symbol")]
    Empty,
    /// Longer than [`Symbol::MAX_LEN`].
    #[error("symbol of {len} bytes, at most 8 allowed")]
    TooLong {
        /// Length of the rejected symbol.
        len: usize,
    },
    /// A byte outside the allowed set.
    #[error("invalid byte {byte:#04x} at offset {pos} in symbol")]
    BadChar {
        /// Offset of the byte.
        pos: usize,
        /// The byte.
        byte: u8,
    },
}

impl Symbol {
    /// Maximum symbol length (the ITCH 5.0 Stock field width).
    pub const MAX_LEN: usize = 8;

    /// A validated symbol from text.
    pub fn new(s: &str) -> Result<Symbol, SymbolError> {
        Symbol::from_bytes(s.as_bytes())
    }

    /// A validated symbol from bytes (no padding).
    pub fn from_bytes(s: &[u8]) -> Result<Symbol, SymbolError> {
        if s.is_empty() {
            return Err(SymbolError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(SymbolError::TooLong { len: s.len() });
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        for (pos, (&byte, slot)) in s.iter().zip(bytes.iter_mut()).enumerate() {
            if !(byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'/')) {
                return Err(SymbolError::BadChar { pos, byte });
            }
            *slot = byte;
        }
        // At most MAX_LEN (8), checked above.
        let len = s.len() as u8;
        Ok(Symbol { bytes, len })
    }

    /// A symbol from the ITCH 5.0 Stock field: 8 bytes, right-padded with spaces.
    pub fn from_itch(field: &[u8; Self::MAX_LEN]) -> Result<Symbol, SymbolError> {
        let len = field
            .iter()
            .rposition(|&b| b != b' ')
            .map_or(0, |last| last + 1);
        Symbol::from_bytes(field.get(..len).unwrap_or_default())
    }

    /// The ITCH 5.0 Stock field form: 8 bytes, right-padded with spaces.
    pub fn to_itch(&self) -> [u8; Self::MAX_LEN] {
        let mut field = [b' '; Self::MAX_LEN];
        for (slot, &b) in field.iter_mut().zip(self.as_bytes()) {
            *slot = b;
        }
        field
    }

    /// The symbol's bytes (no padding).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The symbol as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Symbol").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;

    fn from_str(s: &str) -> Result<Symbol, SymbolError> {
        Symbol::new(s)
    }
}

impl TryFrom<String> for Symbol {
    type Error = SymbolError;

    fn try_from(s: String) -> Result<Symbol, SymbolError> {
        Symbol::new(&s)
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.as_str().to_owned()
    }
}

/// Why an instrument could not be added to the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstrumentError {
    /// The symbol is already in the table.
    #[error("duplicate symbol {0}")]
    DuplicateSymbol(Symbol),
    /// The id is already in the table.
    #[error("duplicate instrument id {0}")]
    DuplicateId(InstrumentId),
    /// Id 0 is reserved for "no instrument".
    #[error("instrument id 0 is reserved")]
    ReservedId,
    /// The symbol is malformed.
    #[error("bad symbol: {0}")]
    BadSymbol(#[from] SymbolError),
}

/// One table entry, as written in configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstrumentEntry {
    /// The symbol.
    pub symbol: Symbol,
    /// Its id.
    pub id: InstrumentId,
}

/// A bijection between symbols and instrument ids; iterates in id order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<InstrumentEntry>", into = "Vec<InstrumentEntry>")]
pub struct InstrumentTable {
    by_symbol: HashMap<Symbol, InstrumentId>,
    by_id: BTreeMap<InstrumentId, Symbol>,
}

impl InstrumentTable {
    /// An empty table.
    pub fn new() -> InstrumentTable {
        InstrumentTable::default()
    }

    /// Adds `symbol` as `id`; fails without changing the table if either is taken.
    pub fn insert(&mut self, symbol: Symbol, id: InstrumentId) -> Result<(), InstrumentError> {
        if id == InstrumentId::NONE {
            return Err(InstrumentError::ReservedId);
        }
        if self.by_symbol.contains_key(&symbol) {
            return Err(InstrumentError::DuplicateSymbol(symbol));
        }
        if self.by_id.contains_key(&id) {
            return Err(InstrumentError::DuplicateId(id));
        }
        self.by_symbol.insert(symbol, id);
        self.by_id.insert(id, symbol);
        Ok(())
    }

    /// Parses `symbol` and adds it as `id`.
    pub fn insert_str(&mut self, symbol: &str, id: InstrumentId) -> Result<(), InstrumentError> {
        self.insert(Symbol::new(symbol)?, id)
    }

    /// The id of `symbol`, if listed.
    pub fn id_of(&self, symbol: &Symbol) -> Option<InstrumentId> {
        self.by_symbol.get(symbol).copied()
    }

    /// The id of the symbol spelled `symbol`, if it is valid and listed.
    pub fn id_of_str(&self, symbol: &str) -> Option<InstrumentId> {
        Symbol::new(symbol).ok().and_then(|s| self.id_of(&s))
    }

    /// The symbol of `id`, if listed.
    pub fn symbol_of(&self, id: InstrumentId) -> Option<Symbol> {
        self.by_id.get(&id).copied()
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// All entries in id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = InstrumentEntry> + '_ {
        self.by_id
            .iter()
            .map(|(&id, &symbol)| InstrumentEntry { symbol, id })
    }
}

impl TryFrom<Vec<InstrumentEntry>> for InstrumentTable {
    type Error = InstrumentError;

    fn try_from(entries: Vec<InstrumentEntry>) -> Result<InstrumentTable, InstrumentError> {
        let mut table = InstrumentTable::new();
        for e in entries {
            table.insert(e.symbol, e.id)?;
        }
        Ok(table)
    }
}

impl From<InstrumentTable> for Vec<InstrumentEntry> {
    fn from(table: InstrumentTable) -> Vec<InstrumentEntry> {
        table.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn symbol_rules() {
        assert_eq!(sym("AAPL").as_str(), "AAPL");
        assert_eq!(sym("BRK.B").to_string(), "BRK.B");
        assert!(Symbol::new("ABCDEFGH").is_ok());
        assert_eq!(Symbol::new(""), Err(SymbolError::Empty));
        assert_eq!(
            Symbol::new("ABCDEFGHI"),
            Err(SymbolError::TooLong { len: 9 })
        );
        assert_eq!(
            Symbol::new("A B"),
            Err(SymbolError::BadChar { pos: 1, byte: b' ' })
        );
        assert_eq!(sym("MSFT").to_itch(), *b"MSFT    ");
        assert_eq!(Symbol::from_itch(b"MSFT    "), Ok(sym("MSFT")));
        assert_eq!(Symbol::from_itch(b"        "), Err(SymbolError::Empty));
        assert_eq!(
            Symbol::from_itch(b" MSFT   "),
            Err(SymbolError::BadChar { pos: 0, byte: b' ' })
        );
    }

    #[test]
    fn table_lookups_and_errors() {
        let mut t = InstrumentTable::new();
        t.insert_str("MSFT", InstrumentId(2))
            .unwrap_or_else(|e| panic!("{e}"));
        t.insert_str("AAPL", InstrumentId(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.id_of(&sym("AAPL")), Some(InstrumentId(1)));
        assert_eq!(t.id_of_str("MSFT"), Some(InstrumentId(2)));
        assert_eq!(t.id_of_str("bad symbol"), None);
        assert_eq!(t.symbol_of(InstrumentId(2)), Some(sym("MSFT")));
        assert_eq!(t.symbol_of(InstrumentId(3)), None);
        assert_eq!(
            t.insert_str("AAPL", InstrumentId(3)),
            Err(InstrumentError::DuplicateSymbol(sym("AAPL")))
        );
        assert_eq!(
            t.insert_str("IBM", InstrumentId(1)),
            Err(InstrumentError::DuplicateId(InstrumentId(1)))
        );
        assert_eq!(
            t.insert_str("IBM", InstrumentId::NONE),
            Err(InstrumentError::ReservedId)
        );
        assert_eq!(
            t.insert_str("I M", InstrumentId(4)),
            Err(InstrumentError::BadSymbol(SymbolError::BadChar {
                pos: 1,
                byte: b' '
            }))
        );
        assert_eq!(t.len(), 2);
        let ids: Vec<_> = t.iter().map(|e| e.id).collect();
        assert_eq!(ids, [InstrumentId(1), InstrumentId(2)]);
    }

    #[test]
    fn table_from_toml() {
        #[derive(Deserialize, Serialize)]
        struct Config {
            instruments: InstrumentTable,
        }
        let text = r#"
            instruments = [
                { symbol = "AAPL", id = 1 },
                { symbol = "MSFT", id = 2 },
            ]
        "#;
        let cfg: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.instruments.id_of_str("MSFT"), Some(InstrumentId(2)));
        let back = toml::to_string(&cfg).unwrap_or_else(|e| panic!("{e}"));
        let again: Config = toml::from_str(&back).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.instruments, cfg.instruments);

        let dup = r#"instruments = [{ symbol = "AAPL", id = 1 }, { symbol = "AAPL", id = 2 }]"#;
        let err = toml::from_str::<Config>(dup).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("duplicate symbol AAPL")),
            "{err:?}"
        );
        let bad = r#"instruments = [{ symbol = "TOOLONGSYM", id = 1 }]"#;
        assert!(toml::from_str::<Config>(bad).is_err());
    }
}
