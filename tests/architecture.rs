//! The architecture's rules as a test (see ../shared/ARCHITECTURE.md, "Layout"): which
//! workspace crates may depend on which, which modules of the soft iWARP stack may reach
//! which, and who may read a clock. It reads `cargo metadata --no-deps` (the manifests'
//! dependencies, normal, dev and build alike, and what they reach through normal and
//! build dependencies) and the sources' paths (`use` lines and every `tickwarp_*::`,
//! `crate::`, `super::`, `self::` path outside comments and string literals), and fails
//! naming the file and line of each broken rule.
//!
//! The rules are data: [`CRATE_RULES`], [`MODULE_RULES`] and the clock tables. A crate
//! missing from [`KNOWN_CRATES`] (a crate added later, say) may depend on
//! [`NEW_CRATE_MAY_USE`] only, until someone adds it to the table with the rules it
//! should obey. The unit tests at the bottom break every rule on synthetic input and
//! check the message, so a rule cannot pass vacuously.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Every workspace crate the rules know, by short name: the package name without
/// `tickwarp-`, and `tickwarp` for the binary (the root package).
const KNOWN_CRATES: &[&str] = &[
    "runtime",
    "wire",
    "rdma",
    "testkit",
    "feed",
    "strategies",
    "gateway",
    "pricing",
    "compute",
    "node",
    "metrics",
    "dropcopy",
    "bench",
    "tickwarp",
];

/// What a crate missing from [`KNOWN_CRATES`] may depend on.
const NEW_CRATE_MAY_USE: &[&str] = &["runtime", "wire", "testkit"];

/// The crates a rule applies to.
enum Scope {
    /// These crates.
    Only(&'static [&'static str]),
    /// Every crate but these.
    AllBut(&'static [&'static str]),
}

impl Scope {
    fn covers(&self, krate: &str) -> bool {
        match self {
            Scope::Only(names) => names.contains(&krate),
            Scope::AllBut(names) => !names.contains(&krate),
        }
    }
}

/// `from` never depends on, nor reaches through other crates, any of `never`.
struct CrateRule {
    from: Scope,
    never: &'static [&'static str],
    why: &'static str,
}

/// The dependency rules between crates.
const CRATE_RULES: &[CrateRule] = &[
    CrateRule {
        from: Scope::Only(&["rdma", "wire", "runtime"]),
        never: &[
            "feed",
            "strategies",
            "gateway",
            "pricing",
            "compute",
            "node",
            "dropcopy",
            "bench",
        ],
        why: "transport, messages and runtime know nothing of trading apps",
    },
    CrateRule {
        from: Scope::Only(&["rdma"]),
        never: &["wire"],
        why: "the transport moves bytes, not tickwarp messages",
    },
    CrateRule {
        from: Scope::Only(&["feed", "strategies"]),
        never: &["gateway"],
        why: "market data and strategies reach the gateway over channels, not by linking it",
    },
    CrateRule {
        from: Scope::Only(&["strategies"]),
        never: &["compute"],
        why: "strategies price through their Pricer trait and the pure pricing crate's jobs; \
              the compute client implements it (it links the gateway's admission) and the \
              binary injects it",
    },
    CrateRule {
        from: Scope::Only(&["pricing"]),
        never: &[
            "runtime",
            "rdma",
            "wire",
            "feed",
            "strategies",
            "gateway",
            "compute",
            "node",
            "metrics",
            "dropcopy",
            "bench",
        ],
        why: "pricing is pure computation (kernels and the job records): no I/O, no clock",
    },
    CrateRule {
        from: Scope::Only(&["metrics"]),
        never: &[
            "wire",
            "rdma",
            "feed",
            "strategies",
            "gateway",
            "pricing",
            "compute",
            "node",
            "dropcopy",
            "bench",
        ],
        why: "the counters file knows nothing of what is counted, so every layer can use it",
    },
    CrateRule {
        from: Scope::AllBut(&["tickwarp", "dropcopy", "bench"]),
        never: &["dropcopy"],
        why: "database clients stay out of the order path: only the binary starts the drop copy",
    },
    CrateRule {
        from: Scope::AllBut(&["tickwarp", "bench"]),
        never: &["bench"],
        why: "only the binary and bench itself link the benchmarks",
    },
];

/// Modules of one crate that never reach some of its other modules.
struct ModuleRule {
    /// The crate's directory, from the workspace root.
    crate_dir: &'static str,
    /// The crate's name in paths.
    crate_ident: &'static str,
    /// The module the rule binds, from the crate root.
    module: &'static str,
    /// Modules it never reaches, from the crate root.
    never: &'static [&'static str],
    why: &'static str,
}

/// The module rules.
const MODULE_RULES: &[ModuleRule] = &[ModuleRule {
    crate_dir: "rdma",
    crate_ident: "tickwarp_rdma",
    module: "soft::wire",
    never: &["soft::proto", "soft::driver"],
    why: "wire views are byte layout only: no state, no I/O",
}];

/// What reads a clock (clippy.toml's disallowed-methods say the same for clippy).
const CLOCK_READS: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "clock_gettime",
    "quanta::",
    ".elapsed()",
];

/// The one module that reads clocks.
const CLOCK_OWNER: &str = "runtime/src/clock.rs";

/// Files whose purpose is to compare clock sources; anywhere else a read needs a
/// statement-level `#[allow(clippy::disallowed_methods)]` (as clippy does).
const CLOCK_EXEMPT: &[&str] = &[
    "runtime/examples/clock_sources.rs",
    "bench/src/bin/clock_read.rs",
];

/// A tickwarp dependency as the manifest declares it.
#[derive(Clone, Debug)]
struct Dep {
    to: String,
    /// `normal`, `dev` or `build`.
    kind: String,
}

/// One workspace crate.
#[derive(Clone, Debug, Default)]
struct Crate {
    name: String,
    /// Its directory from the workspace root (`""` for the root package).
    dir: String,
    /// Its Cargo.toml text, to name the line of a dependency.
    manifest: String,
    deps: Vec<Dep>,
    /// Its Rust sources: path from the workspace root and text.
    files: Vec<(String, String)>,
}

/// The short name of a tickwarp package (`tickwarp-rdma` → `rdma`), or `None`.
fn short_name(package: &str) -> Option<String> {
    match package.strip_prefix("tickwarp-") {
        Some(short) => Some(short.to_owned()),
        None if package == "tickwarp" => Some("tickwarp".to_owned()),
        None => None,
    }
}

/// The workspace crates of `cargo metadata --no-deps` output, without their files.
fn crates_from_metadata(meta: &Value) -> Result<Vec<Crate>> {
    let root = meta["workspace_root"]
        .as_str()
        .context("metadata: no workspace_root")?;
    let mut crates = Vec::new();
    for p in meta["packages"]
        .as_array()
        .context("metadata: no packages")?
    {
        let package = p["name"].as_str().context("package without name")?;
        let Some(name) = short_name(package) else {
            continue;
        };
        let manifest_path = p["manifest_path"].as_str().context("no manifest_path")?;
        let dir = Path::new(manifest_path)
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .context("manifest outside the workspace")?
            .to_string_lossy()
            .into_owned();
        let mut deps = Vec::new();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let Some(to) = d["name"].as_str().and_then(short_name) else {
                continue;
            };
            let kind = d["kind"].as_str().unwrap_or("normal").to_owned();
            deps.push(Dep { to, kind });
        }
        crates.push(Crate {
            name,
            dir,
            deps,
            ..Crate::default()
        });
    }
    Ok(crates)
}

/// Blanks comments and the contents of string and char literals, keeping every line
/// break, so that a pattern found in the result is code at the same line.
fn code_only(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        let prev_ident = i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_');
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(s[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && !prev_ident && matches!(next, Some('"' | '#')) {
            let hashes = s[i + 1..].iter().take_while(|&&h| h == '#').count();
            if s.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('r');
            i += 2 + hashes;
            out.extend(std::iter::repeat_n(' ', hashes + 1));
            while i < s.len() {
                let closes = s[i] == '"'
                    && s[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes;
                if closes {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(s[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < s.len() && s[i] != '"' {
                if s[i] == '\\' && i + 1 < s.len() {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(s[i]));
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || s.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime.
            out.push(' ');
            i += 1;
            while i < s.len() && s[i] != '\'' {
                if s[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The line (1-based) of `to`'s entry in a manifest, or 1.
fn manifest_line(manifest: &str, to: &str) -> usize {
    let key = if to == "tickwarp" {
        "tickwarp ".to_owned()
    } else {
        format!("tickwarp-{to}")
    };
    manifest
        .lines()
        .position(|l| l.trim_start().starts_with(&key))
        .map_or(1, |i| i + 1)
}

/// Checks the crate rules against every manifest dependency, every crate reached
/// through normal and build dependencies, and every `tickwarp_*` path in the sources.
fn check_crates(crates: &[Crate]) -> Vec<String> {
    let mut failures = Vec::new();
    let edges: BTreeMap<&str, Vec<&Dep>> = crates
        .iter()
        .map(|c| (c.name.as_str(), c.deps.iter().collect()))
        .collect();
    for c in crates {
        let manifest = if c.dir.is_empty() {
            "Cargo.toml".to_owned()
        } else {
            format!("{}/Cargo.toml", c.dir)
        };
        // Direct dependencies, from the manifest and from the sources.
        let mut direct: Vec<(String, String, &str)> = c
            .deps
            .iter()
            .map(|d| {
                let at = format!("{manifest}:{}", manifest_line(&c.manifest, &d.to));
                (d.to.clone(), at, d.kind.as_str())
            })
            .collect();
        for (path, text) in &c.files {
            for (n, line) in code_only(text).lines().enumerate() {
                for to in tickwarp_idents(line) {
                    if to != c.name {
                        direct.push((to, format!("{path}:{}", n + 1), "source"));
                    }
                }
            }
        }
        for (to, at, kind) in &direct {
            for rule in CRATE_RULES {
                if rule.from.covers(&c.name) && rule.never.contains(&to.as_str()) {
                    failures.push(format!(
                        "{at}: {} depends on {to} ({kind}): {}",
                        c.name, rule.why
                    ));
                }
            }
            if !KNOWN_CRATES.contains(&c.name.as_str()) && !NEW_CRATE_MAY_USE.contains(&to.as_str())
            {
                failures.push(format!(
                    "{at}: {} depends on {to} ({kind}), but a crate missing from KNOWN_CRATES \
                     may depend on {NEW_CRATE_MAY_USE:?} only: add it to tests/architecture.rs \
                     with its rules",
                    c.name
                ));
            }
        }
        // What it reaches through other crates (dev-dependencies do not carry over).
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Vec<&str>> = vec![vec![c.name.as_str()]];
        while let Some(route) = stack.pop() {
            let last = route[route.len() - 1];
            for d in edges.get(last).into_iter().flatten() {
                if d.kind == "dev" || !seen.insert(d.to.as_str()) {
                    continue;
                }
                let mut longer = route.clone();
                longer.push(d.to.as_str());
                if longer.len() > 2 {
                    for rule in CRATE_RULES {
                        if rule.from.covers(&c.name) && rule.never.contains(&d.to.as_str()) {
                            let first = route[1];
                            failures.push(format!(
                                "{manifest}:{}: {} reaches {} through {}: {}",
                                manifest_line(&c.manifest, first),
                                c.name,
                                d.to,
                                longer.join(" → "),
                                rule.why
                            ));
                        }
                    }
                }
                stack.push(longer);
            }
        }
    }
    failures
}

/// The crates a code line names as `tickwarp_<name>` (short names; the binary has no
/// library, so `tickwarp` alone names nothing).
fn tickwarp_idents(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("tickwarp_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at + "tickwarp_".len()..];
        let len = tail
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|b| b.is_alphanumeric() || b == '_') && len > 0 {
            found.push(tail[..len].to_owned());
        }
        rest = &tail[len..];
    }
    found
}

/// The module path of a source file of a crate (`src/soft/wire/mpa.rs` → `soft::wire::mpa`),
/// or `None` outside `src/`.
fn module_of(rel: &str) -> Option<Vec<String>> {
    let rel = rel.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut segs: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(
        segs.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segs.pop();
    }
    Some(segs)
}

/// Expands one `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = tree[open + 1..].trim_end();
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand_use)
        .map(|p| match p.as_str() {
            "self" => prefix.to_owned(),
            _ => format!("{prefix}::{p}"),
        })
        .collect()
}

/// Resolves `path` (as written in module `module`) to segments from the crate root, or
/// `None` when it does not start at the crate (`std::`, another crate, a local name).
fn resolve(path: &str, module: &[String], crate_ident: &str) -> Option<Vec<String>> {
    let segs: Vec<&str> = path
        .split("::")
        .map(|s| s.split_whitespace().next().unwrap_or(s))
        .collect();
    let (mut base, rest): (Vec<String>, &[&str]) = match segs.first() {
        Some(&"crate") => (Vec::new(), &segs[1..]),
        Some(first) if *first == crate_ident => (Vec::new(), &segs[1..]),
        Some(&"self") => (module.to_vec(), &segs[1..]),
        Some(&"super") => (module.to_vec(), &segs[..]),
        _ => return None,
    };
    let mut rest = rest.iter().peekable();
    while rest.peek() == Some(&&"super") {
        base.pop();
        rest.next();
    }
    base.extend(rest.map(|s| (*s).to_owned()));
    Some(base)
}

/// The crate-relative paths a sanitized source line mentions (with `use` trees, which
/// may span lines, expanded), each with its 1-based line.
fn paths_in(code: &str, crate_ident: &str) -> Vec<(usize, Vec<String>, String)> {
    // Inline modules (`mod tests { .. }`) nest the module path; rustfmt's indentation
    // tells where they close.
    let mut found = Vec::new();
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut pending_use: Option<(usize, String)> = None;
    for (n, line) in code.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t == "}" && inline.last().is_some_and(|(i, _)| *i == indent) {
            inline.pop();
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "mod") {
            if words.get(i + 2) == Some(&"{") {
                inline.push((indent, words[i + 1].to_owned()));
            }
        }
        let nest: Vec<String> = inline.iter().map(|(_, m)| m.clone()).collect();
        let statement = match pending_use.take() {
            Some((start, mut s)) => {
                s.push(' ');
                s.push_str(t);
                Some((start, s))
            }
            None => without_visibility(t)
                .strip_prefix("use ")
                .map(|u| (n, u.to_owned())),
        };
        if let Some((start, s)) = statement {
            if let Some(tree) = s.strip_suffix(';') {
                for p in expand_use(tree) {
                    found.push((start + 1, nest.clone(), p));
                }
            } else {
                pending_use = Some((start, s));
            }
            continue;
        }
        let mut rest = t;
        let own = format!("{crate_ident}::");
        while let Some(at) = ["crate::", "super::", "self::", own.as_str()]
            .iter()
            .filter_map(|k| rest.find(k))
            .min()
        {
            let before = rest[..at].chars().next_back();
            let tail = &rest[at..];
            let len = tail
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|b| b.is_alphanumeric() || b == '_' || b == ':') {
                found.push((
                    n + 1,
                    nest.clone(),
                    tail[..len].trim_end_matches(':').to_owned(),
                ));
            }
            rest = &tail[len.max(1)..];
        }
    }
    found
}

/// A line without its leading `pub`, `pub(crate)`, `pub(super)`, ….
fn without_visibility(t: &str) -> &str {
    if let Some(rest) = t.strip_prefix("pub(") {
        return rest.split_once(") ").map_or(t, |(_, r)| r);
    }
    t.strip_prefix("pub ").unwrap_or(t)
}

/// Checks the module rules on the sources of their crates.
fn check_modules(crates: &[Crate], rules: &[ModuleRule]) -> Vec<String> {
    let mut failures = Vec::new();
    for rule in rules {
        let module: Vec<String> = rule.module.split("::").map(str::to_owned).collect();
        // The real workspace test checks that the crates exist.
        let Some(c) = crates.iter().find(|c| c.dir == rule.crate_dir) else {
            continue;
        };
        let modules: BTreeSet<Vec<String>> = c
            .files
            .iter()
            .filter_map(|(p, _)| module_of(p.strip_prefix(&format!("{}/", c.dir))?))
            .collect();
        for m in std::iter::once(&rule.module).chain(rule.never) {
            let segs: Vec<String> = m.split("::").map(str::to_owned).collect();
            if !modules.contains(&segs) {
                failures.push(format!(
                    "{}: module rule names {m}, which does not exist (renamed? update MODULE_RULES)",
                    rule.crate_dir
                ));
            }
        }
        for (path, text) in &c.files {
            let Some(file_module) = path
                .strip_prefix(&format!("{}/", c.dir))
                .and_then(module_of)
            else {
                continue;
            };
            if !file_module.starts_with(&module) {
                continue;
            }
            for (line, nest, written) in paths_in(&code_only(text), rule.crate_ident) {
                let here: Vec<String> = file_module.iter().chain(&nest).cloned().collect();
                let Some(target) = resolve(&written, &here, rule.crate_ident) else {
                    continue;
                };
                for never in rule.never {
                    let never: Vec<String> = never.split("::").map(str::to_owned).collect();
                    if target.starts_with(&never) {
                        failures.push(format!(
                            "{path}:{line}: {} reaches {} (`{written}`): {}",
                            rule.module,
                            never.join("::"),
                            rule.why
                        ));
                    }
                }
            }
        }
    }
    failures
}

/// Checks that only [`CLOCK_OWNER`] reads a clock.
fn check_clocks(crates: &[Crate]) -> Vec<String> {
    let mut failures = Vec::new();
    for (path, text) in crates.iter().flat_map(|c| &c.files) {
        if path == CLOCK_OWNER || CLOCK_EXEMPT.contains(&path.as_str()) {
            continue;
        }
        let original: Vec<&str> = text.lines().collect();
        for (n, line) in code_only(text).lines().enumerate() {
            let Some(read) = CLOCK_READS.iter().find(|r| line.contains(*r)) else {
                continue;
            };
            // A statement-level allow on this line or the two above, as clippy honours.
            let allowed = original
                .get(n.saturating_sub(2)..=n)
                .unwrap_or_default()
                .iter()
                .any(|l| l.contains("allow(clippy::disallowed_methods)"));
            if !allowed {
                failures.push(format!(
                    "{path}:{}: reads a clock (`{read}`): only {CLOCK_OWNER} may \
                     (use tickwarp_runtime::clock)",
                    n + 1
                ));
            }
        }
    }
    failures
}

/// Every rule, on `crates`.
fn check(crates: &[Crate]) -> Vec<String> {
    let mut failures = check_crates(crates);
    failures.extend(check_modules(crates, MODULE_RULES));
    failures.extend(check_clocks(crates));
    failures
}

/// The Rust files below `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The workspace as it is: metadata, manifests and sources (`src`, `tests`, `benches`,
/// `examples`, `build.rs` of each crate).
fn load_workspace() -> Result<Vec<Crate>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let mut crates = crates_from_metadata(&meta)?;
    for c in &mut crates {
        let dir = root.join(&c.dir);
        c.manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        let mut files = Vec::new();
        for sub in ["src", "tests", "benches", "examples"] {
            rust_files(&dir.join(sub), &mut files)?;
        }
        if dir.join("build.rs").is_file() {
            files.push(dir.join("build.rs"));
        }
        for f in files {
            let rel = f.strip_prefix(root)?.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&f).with_context(|| rel.clone())?;
            c.files.push((rel, text));
        }
    }
    Ok(crates)
}

#[test]
fn the_workspace_keeps_the_architecture_rules() -> Result<()> {
    let crates = load_workspace()?;
    let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    for expected in ["runtime", "wire", "rdma", "gateway", "bench", "tickwarp"] {
        if !names.contains(&expected) {
            bail!("cargo metadata lists no {expected} crate: {names:?}");
        }
    }
    let failures = check(&crates);
    if !failures.is_empty() {
        bail!("architecture rules broken:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// Each rule broken on purpose, on synthetic input: the checker must say so, naming
/// the file and line.
mod broken_on_purpose {
    use super::*;

    fn krate(name: &str, deps: &[(&str, &str)], files: &[(&str, &str)]) -> Crate {
        let dir = if name == "tickwarp" { "" } else { name };
        let manifest: String = deps
            .iter()
            .map(|(to, _)| format!("tickwarp-{to}.workspace = true\n"))
            .collect();
        Crate {
            name: name.to_owned(),
            dir: dir.to_owned(),
            manifest: format!("[package]\n[dependencies]\n{manifest}"),
            deps: deps
                .iter()
                .map(|(to, kind)| Dep {
                    to: (*to).to_owned(),
                    kind: (*kind).to_owned(),
                })
                .collect(),
            files: files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    /// The soft stack's module files, so the module rule's names exist.
    fn rdma(files: &[(&str, &str)]) -> Crate {
        let mut all = vec![
            ("rdma/src/lib.rs", "pub mod soft;"),
            ("rdma/src/soft/mod.rs", "pub mod wire;"),
            ("rdma/src/soft/driver.rs", ""),
            ("rdma/src/soft/proto/mod.rs", ""),
            ("rdma/src/soft/wire/mod.rs", ""),
        ];
        all.extend_from_slice(files);
        krate("rdma", &[("runtime", "normal")], &all)
    }

    fn assert_fails(crates: &[Crate], expected: &str) {
        let failures = check(crates);
        assert!(
            failures.iter().any(|f| f.contains(expected)),
            "expected a failure containing {expected:?}, got {failures:#?}"
        );
    }

    #[test]
    fn today_s_shape_passes() {
        let crates = [
            krate("runtime", &[("testkit", "dev")], &[]),
            krate("wire", &[("runtime", "normal")], &[]),
            rdma(&[]),
            krate("gateway", &[("rdma", "normal"), ("feed", "normal")], &[]),
            krate("bench", &[("gateway", "normal")], &[]),
            krate("tickwarp", &[("bench", "normal")], &[]),
        ];
        assert_eq!(check(&crates), Vec::<String>::new());
    }

    #[test]
    fn metadata_is_read_with_kinds_and_directories() -> Result<()> {
        let meta: Value = serde_json::from_str(
            r#"{"workspace_root": "/ws", "packages": [
                {"name": "tickwarp-rdma", "manifest_path": "/ws/rdma/Cargo.toml",
                 "dependencies": [{"name": "tickwarp-wire", "kind": null},
                                  {"name": "tickwarp-testkit", "kind": "dev"},
                                  {"name": "libc", "kind": null}]},
                {"name": "tickwarp", "manifest_path": "/ws/Cargo.toml", "dependencies": []}]}"#,
        )?;
        let crates = crates_from_metadata(&meta)?;
        assert_eq!(crates.len(), 2);
        assert_eq!(
            (crates[0].name.as_str(), crates[0].dir.as_str()),
            ("rdma", "rdma")
        );
        assert_eq!(
            (crates[1].name.as_str(), crates[1].dir.as_str()),
            ("tickwarp", "")
        );
        let deps: Vec<_> = crates[0]
            .deps
            .iter()
            .map(|d| (d.to.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(deps, [("wire", "normal"), ("testkit", "dev")]);
        let mut with_text = crates;
        with_text[0].manifest = "[dependencies]\ntickwarp-wire.workspace = true\n".into();
        assert_fails(
            &with_text,
            "rdma/Cargo.toml:2: rdma depends on wire (normal): the transport moves bytes",
        );
        Ok(())
    }

    #[test]
    fn the_lower_layers_never_depend_on_trading_apps() {
        for (from, to) in [
            ("runtime", "gateway"),
            ("wire", "feed"),
            ("rdma", "strategies"),
        ] {
            let crates = [krate(from, &[(to, "normal")], &[])];
            assert_fails(
                &crates,
                &format!("{from}/Cargo.toml:3: {from} depends on {to} (normal): transport"),
            );
        }
        // A dev-dependency counts too.
        assert_fails(
            &[krate("wire", &[("bench", "dev")], &[])],
            "wire depends on bench (dev)",
        );
    }

    #[test]
    fn rdma_never_reaches_wire_even_through_a_new_crate() {
        let mut crates = [rdma(&[]), krate("relay", &[("wire", "normal")], &[])];
        crates[0].deps.push(Dep {
            to: "relay".into(),
            kind: "normal".into(),
        });
        crates[0]
            .manifest
            .push_str("tickwarp-relay.workspace = true\n");
        assert_fails(&crates, "rdma reaches wire through rdma → relay → wire");
    }

    #[test]
    fn feed_and_strategies_never_depend_on_the_gateway() {
        assert_fails(
            &[krate("strategies", &[("gateway", "normal")], &[])],
            "strategies depends on gateway (normal): market data and strategies",
        );
        // A source path names the file and line even when the manifest is clean.
        let src = "//! feed\nuse std::fmt;\nuse tickwarp_gateway::service::OrderCore;\n";
        assert_fails(
            &[krate("feed", &[], &[("feed/src/lib.rs", src)])],
            "feed/src/lib.rs:3: feed depends on gateway (source)",
        );
        // Not in a comment or a string.
        let quiet = "// tickwarp_gateway::x\nconst S: &str = \"tickwarp_gateway::x\";\n";
        assert_eq!(
            check(&[krate("feed", &[], &[("feed/src/lib.rs", quiet)])]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn only_the_binary_and_bench_link_bench() {
        assert_fails(
            &[krate("gateway", &[("bench", "normal")], &[])],
            "gateway depends on bench (normal): only the binary and bench",
        );
        assert_fails(
            &[krate("node", &[("bench", "normal")], &[])],
            "node depends on bench",
        );
    }

    #[test]
    fn a_new_crate_may_use_runtime_and_wire_only() {
        assert_eq!(
            check(&[krate(
                "replay_store",
                &[("wire", "normal"), ("runtime", "normal")],
                &[]
            )]),
            Vec::<String>::new()
        );
        assert_fails(
            &[krate("replay_store", &[("gateway", "normal")], &[])],
            "replay_store/Cargo.toml:3: replay_store depends on gateway (normal), but a crate missing \
             from KNOWN_CRATES",
        );
    }

    #[test]
    fn soft_wire_never_reaches_proto_or_the_driver() {
        let cases = [
            (
                "rdma/src/soft/wire/mpa.rs",
                "use super::crc;\nuse crate::soft::proto::mpa_setup::Setup;\n",
                "rdma/src/soft/wire/mpa.rs:2: soft::wire reaches soft::proto",
            ),
            (
                "rdma/src/soft/wire/ddp.rs",
                "use crate::soft::{\n    driver::Driver,\n    wire::Error,\n};\n",
                "rdma/src/soft/wire/ddp.rs:1: soft::wire reaches soft::driver",
            ),
            (
                "rdma/src/soft/wire/mod.rs",
                "mod tests {\n    fn f() {\n        let _ = super::super::proto::X;\n    }\n}\n",
                "rdma/src/soft/wire/mod.rs:3: soft::wire reaches soft::proto",
            ),
            (
                "rdma/src/soft/wire/rdmap/tests.rs",
                "use super::super::super::driver as d;\n",
                "rdma/src/soft/wire/rdmap/tests.rs:1: soft::wire reaches soft::driver",
            ),
        ];
        for (path, src, expected) in cases {
            assert_fails(&[rdma(&[(path, src)])], expected);
        }
        // Its own modules, std and the rest of the crate are fine.
        let fine = "use super::ddp;\nuse crate::soft::wire::FieldRange;\nuse crate::verbs::Access;\n\
                    use std::fmt;\n";
        assert_eq!(
            check(&[rdma(&[("rdma/src/soft/wire/rdmap.rs", fine)])]),
            Vec::<String>::new()
        );
        // A renamed module cannot make the rule pass vacuously.
        let mut renamed = rdma(&[]);
        renamed
            .files
            .retain(|(p, _)| p != "rdma/src/soft/driver.rs");
        assert_fails(
            &[renamed],
            "module rule names soft::driver, which does not exist",
        );
    }

    #[test]
    fn only_runtime_clock_reads_a_clock() {
        for read in [
            "let t = std::time::Instant::now();",
            "let t = SystemTime::now();",
            "let t = rustix::time::clock_gettime(ClockId::Monotonic);",
            "let q = quanta::Clock::new();",
            "if start.elapsed() > limit {}",
        ] {
            let src = format!("fn f() {{\n    {read}\n}}\n");
            assert_fails(
                &[krate("gateway", &[], &[("gateway/src/venue.rs", &src)])],
                "gateway/src/venue.rs:2: reads a clock",
            );
        }
        let fine = "//! Uses `Instant::now` nowhere.\nfn f() {\n    let s = \"Instant::now\";\n    \
                    #[allow(clippy::disallowed_methods)] // test support\n    \
                    let t = std::time::Instant::now();\n}\n";
        let owner = "pub fn now() -> u64 { clock_gettime(ClockId::Monotonic) }\n";
        assert_eq!(
            check(&[
                krate("testkit", &[], &[("testkit/src/wait.rs", fine)]),
                krate("runtime", &[], &[("runtime/src/clock.rs", owner)]),
            ]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn comments_and_literals_are_blanked_line_for_line() {
        let src = "a /* x\ny */ b 'c' '\\n' 'static r#\"q\"# \"s\\\"t\" // z\nd";
        let code = code_only(src);
        assert_eq!(code.lines().count(), src.lines().count());
        let words: Vec<&str> = code.split_whitespace().collect();
        assert_eq!(words, ["a", "b", "'static", "r", "d"]);
    }
}
