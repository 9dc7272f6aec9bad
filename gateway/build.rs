//! Compiles the FIX 4.4 data dictionary into static lookup tables.
//!
//! The source is the FIX Trading Community's FIX Orchestra repository for FIX 4.4
//! (`OrchestraFIX44.xml`, Apache-2.0), vendored verbatim and parsed by the
//! `ironfix-dictionary` crate; see `src/fix/DICTIONARY-NOTICE.md`. This script walks it once
//! at build time and writes `fix44_dictionary.rs` into `OUT_DIR`: fields sorted by tag (type
//! and sorted enumerated values), messages sorted by MsgType, header and trailer, with
//! components flattened (a field of an optional component is optional) and repeating
//! groups as nested statics. `src/fix/dictionary.rs` includes it; nothing is parsed or
//! allocated at run time.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use ironfix_dictionary::{Dictionary, GroupDef, MemberRef};

/// One flattened member of a section: a field, or a group (by generated static name).
struct Flat {
    tag: u32,
    required: bool,
    group: Option<String>,
}

/// Writes the generated tables.
struct Gen<'d> {
    dict: &'d Dictionary,
    out: String,
    groups: usize,
    /// `all_tags` of each emitted group, by static name.
    group_tags: HashMap<String, Vec<u32>>,
}

impl Gen<'_> {
    /// Flattens `members` (expanding components) into `flat`.
    fn flatten<'m>(
        &mut self,
        members: impl Iterator<Item = MemberRef<'m>>,
        required: bool,
        flat: &mut Vec<Flat>,
    ) {
        for m in members {
            match m {
                MemberRef::Field(f) => push(flat, f.tag, required && f.required, None),
                MemberRef::Group(g) => {
                    let name = self.group(g);
                    push(flat, g.count_tag, required && g.required, Some(name));
                }
                MemberRef::Component(c) => {
                    let Some(def) = self.dict.get_component(&c.name) else {
                        panic!("FIX 4.4 dictionary: component {} is not defined", c.name);
                    };
                    self.flatten(def.members(), required && c.required, flat);
                }
            }
        }
    }

    /// Emits a group as a static; returns its name.
    fn group(&mut self, g: &GroupDef) -> String {
        let mut flat = Vec::new();
        self.flatten(g.members(), true, &mut flat);
        if flat.first().map(|f| f.tag) != Some(g.delimiter_tag) {
            panic!(
                "FIX 4.4 dictionary: group {} does not start with its delimiter {}",
                g.name, g.delimiter_tag
            );
        }
        let name = format!("G{}", self.groups);
        self.groups += 1;
        let mut all = Vec::new();
        self.all_tags(&flat, &mut all);
        all.sort_unstable();
        all.dedup();
        self.group_tags.insert(name.clone(), all.clone());
        let section = section(&flat);
        let _ = writeln!(
            self.out,
            "static {name}: GroupDef = GroupDef {{ name: {:?}, count_tag: {}, delimiter: {}, \
             body: {section}, all_tags: &{all:?} }};",
            g.name, g.count_tag, g.delimiter_tag
        );
        name
    }

    /// Every tag an entry of a group with members `flat` may hold, nested groups included.
    fn all_tags(&self, flat: &[Flat], out: &mut Vec<u32>) {
        for f in flat {
            out.push(f.tag);
            if let Some(nested) = f.group.as_ref().and_then(|n| self.group_tags.get(n)) {
                out.extend_from_slice(nested);
            }
        }
    }
}

/// Adds a member unless its tag is already there (components may overlap).
fn push(flat: &mut Vec<Flat>, tag: u32, required: bool, group: Option<String>) {
    if !flat.iter().any(|f| f.tag == tag) {
        flat.push(Flat {
            tag,
            required,
            group,
        });
    }
}

/// A `Section { .. }` literal for `flat`.
fn section(flat: &[Flat]) -> String {
    let mut members = String::new();
    for f in flat {
        let group = f
            .group
            .as_ref()
            .map_or_else(|| "None".to_owned(), |g| format!("Some(&{g})"));
        let _ = write!(
            members,
            "Member {{ tag: {}, required: {}, group: {group} }}, ",
            f.tag, f.required
        );
    }
    let mut by_tag: Vec<(u32, usize)> = flat.iter().enumerate().map(|(i, f)| (f.tag, i)).collect();
    by_tag.sort_unstable();
    let required: Vec<u32> = flat.iter().filter(|f| f.required).map(|f| f.tag).collect();
    format!("Section {{ members: &[{members}], by_tag: &{by_tag:?}, required: &{required:?} }}")
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dict = match Dictionary::fix44() {
        Ok(d) => d,
        Err(e) => panic!("FIX 4.4 dictionary does not load: {e}"),
    };
    let mut g = Gen {
        dict,
        out: String::new(),
        groups: 0,
        group_tags: HashMap::new(),
    };

    let fields: BTreeMap<u32, _> = dict.fields().map(|f| (f.tag, f)).collect();
    let mut text = String::from("static FIELDS: &[FieldDef] = &[\n");
    for (tag, f) in &fields {
        let mut values: Vec<&str> = f
            .values
            .as_ref()
            .map(|v| v.keys().map(String::as_str).collect())
            .unwrap_or_default();
        values.sort_unstable();
        let _ = writeln!(
            text,
            "FieldDef {{ tag: {tag}, name: {:?}, ty: FieldType::{:?}, values: &{values:?} }},",
            f.name, f.field_type
        );
    }
    text.push_str("];\n");

    let mut header = Vec::new();
    for f in &dict.header {
        push(&mut header, f.tag, f.required, None);
    }
    for grp in &dict.header_groups {
        let name = g.group(grp);
        push(&mut header, grp.count_tag, grp.required, Some(name));
    }
    let mut trailer = Vec::new();
    for f in &dict.trailer {
        push(&mut trailer, f.tag, f.required, None);
    }
    for grp in &dict.trailer_groups {
        let name = g.group(grp);
        push(&mut trailer, grp.count_tag, grp.required, Some(name));
    }
    let _ = writeln!(text, "static HEADER: Section = {};", section(&header));
    let _ = writeln!(text, "static TRAILER: Section = {};", section(&trailer));

    let messages: BTreeMap<&str, _> = dict.messages().map(|m| (m.msg_type.as_str(), m)).collect();
    text.push_str("static MESSAGES: &[MessageDef] = &[\n");
    for (msg_type, m) in &messages {
        let mut flat = Vec::new();
        g.flatten(m.members(), true, &mut flat);
        let _ = writeln!(
            text,
            "MessageDef {{ msg_type: {msg_type:?}, name: {:?}, body: {} }},",
            m.name,
            section(&flat)
        );
    }
    text.push_str("];\n");

    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"));
    let path = std::path::Path::new(&out_dir).join("fix44_dictionary.rs");
    let all = format!("{}\n{text}", g.out);
    if let Err(e) = std::fs::write(&path, all) {
        panic!("writing {}: {e}", path.display());
    }
}
