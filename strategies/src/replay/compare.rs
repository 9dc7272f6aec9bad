//! [`compare`]: where two order streams first differ.
//!
//! Two streams are equal when their commands are byte-identical in order. The first
//! difference is reported with its index, both commands (either may be missing when one
//! stream is a prefix of the other), the names of the fields that differ, and the
//! commands just before it, which both streams share. Pure; no I/O.

use core::fmt;

use crate::order::OrderCommand;

/// Commands of context [`compare`] keeps before a divergence.
pub const DEFAULT_CONTEXT: usize = 3;

/// The first difference between a recorded and a replayed order stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the first differing command.
    pub index: usize,
    /// The recorded command there (`None`: the recording ended).
    pub recorded: Option<OrderCommand>,
    /// The replayed command there (`None`: the replay ended).
    pub replayed: Option<OrderCommand>,
    /// Up to the requested number of commands before `index` (equal in both).
    pub context: Vec<OrderCommand>,
}

impl Divergence {
    /// Names of the fields that differ (`"type"` when the kinds differ, `"missing"` when
    /// one stream ended).
    pub fn fields(&self) -> Vec<&'static str> {
        match (&self.recorded, &self.replayed) {
            (Some(a), Some(b)) => differing_fields(a, b),
            _ => vec!["missing"],
        }
    }
}

/// Field names and byte ranges shared by all three command layouts, then per type.
const COMMON: [(&str, core::ops::Range<usize>); 4] = [
    ("instrument", 8..12),
    ("account", 12..16),
    ("side", 16..17),
    ("tick_cause", 56..88),
];

/// Names of the fields in which two commands differ.
fn differing_fields(a: &OrderCommand, b: &OrderCommand) -> Vec<&'static str> {
    if a.msg_type() != b.msg_type() {
        return vec!["type"];
    }
    let specific: &[(&str, core::ops::Range<usize>)] = match a {
        OrderCommand::New(_) => &[
            ("ord_type", 17..18),
            ("tif", 18..19),
            ("price", 24..32),
            ("qty", 32..40),
            ("cl_ord_id", 40..56),
        ],
        OrderCommand::Cancel(_) => &[("cl_ord_id", 24..40), ("orig_cl_ord_id", 40..56)],
        OrderCommand::Replace(_) => &[
            ("ord_type", 17..18),
            ("tif", 18..19),
            ("price", 24..32),
            ("qty", 32..40),
            ("cl_ord_id", 40..56),
            ("orig_cl_ord_id", 88..104),
        ],
    };
    let (x, y) = (a.as_bytes(), b.as_bytes());
    COMMON
        .iter()
        .chain(specific)
        .filter(|(_, r)| x.get(r.clone()) != y.get(r.clone()))
        .map(|(name, _)| *name)
        .collect()
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "order streams diverge at #{}", self.index)?;
        let first = self.index.saturating_sub(self.context.len());
        for (i, c) in self.context.iter().enumerate() {
            writeln!(f, "  #{:<6} both     {c}", first + i)?;
        }
        let show = |c: &Option<OrderCommand>| match c {
            Some(c) => c.to_string(),
            None => "(end of stream)".to_owned(),
        };
        writeln!(f, "  #{:<6} recorded {}", self.index, show(&self.recorded))?;
        writeln!(f, "  #{:<6} replayed {}", self.index, show(&self.replayed))?;
        write!(f, "  differing: {}", self.fields().join(", "))
    }
}

/// The first difference between `recorded` and `replayed`, with [`DEFAULT_CONTEXT`]
/// commands of context; `None` when they are identical.
pub fn compare(recorded: &[OrderCommand], replayed: &[OrderCommand]) -> Option<Divergence> {
    compare_with_context(recorded, replayed, DEFAULT_CONTEXT)
}

/// As [`compare`], keeping up to `context` commands before the divergence.
pub fn compare_with_context(
    recorded: &[OrderCommand],
    replayed: &[OrderCommand],
    context: usize,
) -> Option<Divergence> {
    let shared = recorded.len().min(replayed.len());
    let index = recorded
        .iter()
        .zip(replayed)
        .position(|(a, b)| a.as_bytes() != b.as_bytes())
        .or((recorded.len() != replayed.len()).then_some(shared))?;
    let start = index.saturating_sub(context);
    Some(Divergence {
        index,
        recorded: recorded.get(index).copied(),
        replayed: replayed.get(index).copied(),
        context: recorded.get(start..index).unwrap_or_default().to_vec(),
    })
}

/// The concatenated bytes of a command stream (for byte-level equality checks).
pub fn stream_bytes(commands: &[OrderCommand]) -> Vec<u8> {
    let mut out = Vec::with_capacity(commands.len() * 128);
    for c in commands {
        out.extend_from_slice(c.as_bytes());
    }
    out
}
