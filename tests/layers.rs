//! Every module imports only from the layers below its own (see the crate
//! documentation in `src/lib.rs`): a circle of imports, or an arrow pointing
//! up, means a piece of logic sits in the wrong layer.
//!
//! Inside a module's folder the same holds between its files: they import
//! from each other without circles, and never up from the front file that
//! declares them (see "Inside a module folder" below).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, top first.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["exec", "supervise"],
    &[
        "watch",
        "sd_notify",
        "listening",
        "adopt",
        "error_page",
        "livereload",
        "demand",
    ],
    &["output"],
    &["config", "activation"],
    &["socket"],
    &[
        "spec",
        "signal",
        "socket_server",
        "local_server",
        "holder",
        "error",
    ],
    &["sys"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_import_points_down() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in crate_files() {
        // The crate root (lib.rs) is the top: it may use anything.
        let Some(module) = file.module.first() else {
            continue;
        };
        let own = layer(module)
            .unwrap_or_else(|| panic!("{module} is in no layer: add it to LAYERS and lib.rs"));
        for named in &file.parsed.named {
            let Some(name) = named.target.first() else {
                continue;
            };
            checked += 1;
            if name == module {
                continue;
            }
            match layer(name) {
                Some(theirs) if theirs > own => {}
                _ => wrong.push(format!(
                    "{}:{}: {module} (layer {}) imports {name}",
                    file.path.display(),
                    named.line,
                    own + 1
                )),
            }
        }
    }
    assert!(
        checked > 20,
        "found only {checked} imports: is the parser broken?"
    );
    assert!(
        wrong.is_empty(),
        "imports that do not point down:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_parser_finds_imports_and_skips_comments() {
    let parsed = parse(
        "use crate::a::B;\n// crate::c\nlet x = crate::d::f(crate::e::G);\n",
        &["m".to_string()],
    );
    let names: Vec<&str> = parsed
        .named
        .iter()
        .map(|named| named.target[0].as_str())
        .collect();
    assert_eq!(names, ["a", "d", "e"]);
}

// Inside a module folder. A folder (`src/supervise/`) holds the files of one
// module: its front (`mod.rs`, or `supervise.rs` beside the folder), which
// declares the children and re-exports what the rest of the crate uses, and
// the children, one file or folder each. The children import from each other
// (`super::state::Event`), never from the front or any front above it: the
// front imports its children, so a child importing the front would close a
// circle through it. Among the children the imports must not circle either:
// types two of them share sit in a third file that imports neither.
//
// `tests.rs` files are left out of both rules: they are unit tests of the
// file beside their folder (`super::*` is the point of them) and nothing
// imports them back.

/// One piece of Rust source, as far as paths and modules go.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    /// An identifier or keyword.
    Word(String),
    /// The contents of a string literal (wanted for `path = "…"`).
    Str(String),
    /// `::`
    Colons,
    Punct(char),
}

/// The tokens of `source` with their line numbers, without comments; char
/// literals, lifetimes and numbers are dropped too, as no path is in them.
fn tokens(source: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            loop {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else if i >= chars.len() {
                    break;
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            let (text, end) = string(&chars, i + 1, None);
            line += text.matches('\n').count();
            found.push((start, Token::Str(text)));
            i = end;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}'), or else a lifetime
            // or label, whose name is harmless as a word.
            if at(i + 1) == '\\' {
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_ascii_digit() {
            while at(i).is_ascii_alphanumeric() || at(i) == '_' {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let begin = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let word: String = chars[begin..i].iter().collect();
            let hashes = chars[i..].iter().take_while(|&&h| h == '#').count();
            let raw = matches!(word.as_str(), "r" | "br" | "cr") && at(i + hashes) == '"';
            if raw || (matches!(word.as_str(), "b" | "c") && at(i) == '"') {
                // r"…", r#"…"#, b"…": a string with a prefix.
                let closing = raw.then_some(hashes);
                let (text, end) = string(&chars, i + hashes + 1, closing);
                line += text.matches('\n').count();
                found.push((start, Token::Str(text)));
                i = end;
            } else {
                found.push((start, Token::Word(word)));
            }
        } else if c == ':' && at(i + 1) == ':' {
            found.push((start, Token::Colons));
            i += 2;
        } else {
            found.push((start, Token::Punct(c)));
            i += 1;
        }
    }
    found
}

/// The contents of the string literal that starts at `chars[from]` (just
/// after the opening quote), and where it ends. `raw` is the number of `#`
/// that close a raw string, which has no escapes.
fn string(chars: &[char], from: usize, raw: Option<usize>) -> (String, usize) {
    let mut text = String::new();
    let mut i = from;
    while i < chars.len() {
        match (chars[i], raw) {
            ('"', Some(hashes)) if chars[i + 1..].iter().take(hashes).all(|&h| h == '#') => {
                return (text, i + 1 + hashes);
            }
            ('"', None) => return (text, i + 1),
            ('\\', None) => {
                text.extend(chars.get(i..i + 2).unwrap_or_default());
                i += 2;
            }
            (c, _) => {
                text.push(c);
                i += 1;
            }
        }
    }
    (text, i)
}

/// What one file says about modules.
#[derive(Debug, Default)]
struct Parsed {
    /// The `mod NAME;` it declares, each with its `path = "…"` attributes
    /// (one per `cfg_attr` alternative).
    declared: Vec<(String, Vec<String>)>,
    /// The paths it names through `crate::`, `super::` or `self::`, in use
    /// declarations (groups expanded) and in code: the line, the path as
    /// written, and the path from the crate root it resolves to.
    named: Vec<Named>,
}

#[derive(Debug)]
struct Named {
    line: usize,
    written: String,
    target: Vec<String>,
}

/// Reads `source`, the file of `module` (its path from the crate root).
fn parse(source: &str, module: &[String]) -> Parsed {
    let tokens = tokens(source);
    let word = |i: usize| match tokens.get(i) {
        Some((_, Token::Word(word))) => Some(word.as_str()),
        _ => None,
    };
    let is = |i: usize, token: Token| tokens.get(i).is_some_and(|(_, t)| *t == token);
    let mut parsed = Parsed::default();
    // The inline modules (`mod tests { … }`) the tokens are in, each with
    // the brace depth of its body: their `super` is the file's module.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut path_attributes = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let mut here = module.to_vec();
        here.extend(inline.iter().map(|(name, _)| name.clone()));
        match &tokens[i].1 {
            Token::Word(w) if w == "mod" && word(i + 1).is_some() => {
                let name = word(i + 1).unwrap().to_string();
                if is(i + 2, Token::Punct('{')) {
                    inline.push((name, depth + 1));
                    path_attributes.clear();
                } else if is(i + 2, Token::Punct(';')) && inline.is_empty() {
                    parsed
                        .declared
                        .push((name, std::mem::take(&mut path_attributes)));
                }
                i += 2;
                continue;
            }
            Token::Word(w) if w == "path" && is(i + 1, Token::Punct('=')) => {
                if let Some((_, Token::Str(path))) = tokens.get(i + 2) {
                    path_attributes.push(path.clone());
                }
            }
            Token::Word(w) if w == "use" => {
                i += 1;
                let mut written = Vec::new();
                use_tree(&tokens, &mut i, &[], &mut written);
                for (line, path) in written {
                    push_named(&mut parsed.named, line, &here, &path);
                }
                continue;
            }
            Token::Word(w) if matches!(w.as_str(), "crate" | "super" | "self") => {
                // A path in code: `crate::sys::file_id(path)`.
                let line = tokens[i].0;
                let mut path = vec![w.clone()];
                while is(i + 1, Token::Colons) && word(i + 2).is_some() {
                    path.push(word(i + 2).unwrap().to_string());
                    i += 2;
                }
                if path.len() > 1 {
                    push_named(&mut parsed.named, line, &here, &path);
                }
            }
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if inline.last().is_some_and(|&(_, body)| body == depth) {
                    inline.pop();
                }
                depth -= 1;
                path_attributes.clear();
            }
            Token::Punct(';') => path_attributes.clear(),
            _ => {}
        }
        i += 1;
    }
    parsed
}

/// Expands the use tree at `tokens[*at]` (up to its end) into the paths it
/// imports, each after `prefix`: `super::{a::B, c}` is `super::a::B` and
/// `super::c`; `x::{self, Y}` is `x` and `x::Y`.
fn use_tree(
    tokens: &[(usize, Token)],
    at: &mut usize,
    prefix: &[String],
    out: &mut Vec<(usize, Vec<String>)>,
) {
    let mut path = prefix.to_vec();
    while let Some((line, token)) = tokens.get(*at) {
        *at += 1;
        match token {
            Token::Colons => {}
            Token::Punct('{') => {
                while !matches!(tokens.get(*at), None | Some((_, Token::Punct('}')))) {
                    use_tree(tokens, at, &path, out);
                    if matches!(tokens.get(*at), Some((_, Token::Punct(',')))) {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            Token::Punct('*') => {
                path.push("*".to_string());
                out.push((*line, path));
                return;
            }
            Token::Word(word) => {
                // A `self` after a prefix names the prefix itself.
                if word != "self" || path.is_empty() {
                    path.push(word.clone());
                }
                if matches!(tokens.get(*at), Some((_, Token::Colons))) {
                    continue;
                }
                if matches!(tokens.get(*at), Some((_, Token::Word(w))) if w == "as") {
                    *at += 2;
                }
                out.push((*line, path));
                return;
            }
            // The `;` that ends the declaration, or something this reader
            // does not know: either way, the end of the tree.
            _ => return,
        }
    }
}

/// Records `path`, written in module `here`, if it starts at the crate root
/// or at a module around `here`; other paths name a dependency, `std`, or
/// something of `here` itself.
fn push_named(named: &mut Vec<Named>, line: usize, here: &[String], path: &[String]) {
    let mut target = match path[0].as_str() {
        "crate" => Vec::new(),
        "self" | "super" => here.to_vec(),
        _ => return,
    };
    let mut rest = &path[1..];
    if path[0] == "super" {
        target.pop();
        while rest.first().is_some_and(|s| s == "super") {
            target.pop();
            rest = &rest[1..];
        }
    }
    target.extend(rest.iter().cloned());
    named.push(Named {
        line,
        written: path.join("::"),
        target,
    });
}

/// A file of the crate, as rustc finds it.
struct SourceFile {
    /// Relative to `src/`.
    path: std::path::PathBuf,
    /// The module it holds: `["supervise", "state"]`. Files chosen by
    /// `cfg_attr(…, path = …)` hold the same module, one per platform.
    module: Vec<String>,
    parsed: Parsed,
}

/// Every file of the crate: from `lib.rs`, each `mod NAME;` leads to
/// `NAME.rs` or `NAME/mod.rs` in the declaring module's folder, or to the
/// files its `path` attributes name (relative to the declaring file).
fn module_tree(src: &Path) -> Vec<SourceFile> {
    use std::path::PathBuf;
    // (file, module, whether its children sit beside it as with `mod.rs`)
    let mut queue = vec![(PathBuf::from("lib.rs"), Vec::<String>::new(), true)];
    let mut files = Vec::new();
    while let Some((path, module, beside)) = queue.pop() {
        let source = std::fs::read_to_string(src.join(&path)).unwrap();
        let parsed = parse(&source, &module);
        let here = path.parent().unwrap().to_path_buf();
        let folder = if beside || path.ends_with("mod.rs") {
            here.clone()
        } else {
            here.join(path.file_stem().unwrap())
        };
        for (name, paths) in &parsed.declared {
            let mut child = module.clone();
            child.push(name.clone());
            for attribute in paths {
                queue.push((here.join(attribute), child.clone(), true));
            }
            if paths.is_empty() {
                let file = folder.join(format!("{name}.rs"));
                let front = folder.join(name).join("mod.rs");
                // Neither exists: the compiler says so before this test runs.
                if let Some(found) = [file, front].into_iter().find(|f| src.join(f).exists()) {
                    queue.push((found, child, false));
                }
            }
        }
        files.push(SourceFile {
            path,
            module,
            parsed,
        });
    }
    files
}

/// An import from one child of a folder to another.
struct Edge {
    from: String,
    to: String,
    /// Where: the importing file (the child, or a file inside it), the line,
    /// the path as written.
    evidence: String,
}

/// What the files inside module folders import.
#[derive(Default)]
struct Folders {
    /// The imports between children, by the folder's module.
    edges: BTreeMap<Vec<String>, Vec<Edge>>,
    /// The imports of an item of a front by a file inside its folder.
    up: Vec<String>,
}

/// Sorts what each file names outside its own module. The first name past
/// the part of the path the file shares with its own module decides: a
/// child module declared there (a file or folder beside the importer, or
/// beside the folder the importer is in) makes an edge between siblings;
/// anything else is an item of the front there, an import up.
fn classify(files: &[SourceFile]) -> Folders {
    let mut children: BTreeMap<&[String], BTreeSet<&str>> = BTreeMap::new();
    let mut fronts: BTreeMap<&[String], Vec<String>> = BTreeMap::new();
    for file in files {
        let names = file.parsed.declared.iter().map(|(name, _)| name.as_str());
        children.entry(&file.module).or_default().extend(names);
        fronts
            .entry(&file.module)
            .or_default()
            .push(format!("src/{}", file.path.display()));
    }
    let mut folders = Folders::default();
    for file in files {
        if file.path.ends_with("tests.rs") {
            continue; // unit tests: see above
        }
        let own = &file.module;
        for named in &file.parsed.named {
            let target = &named.target;
            // The file's own module: itself, its inline modules, its children.
            if target.starts_with(own) {
                continue;
            }
            let shared = own.iter().zip(target).take_while(|(a, b)| a == b).count();
            // A module around the file, named whole (`pub(in crate::x)`).
            if target.len() == shared {
                continue;
            }
            let folder = &own[..shared];
            let (from, to) = (&own[shared], &target[shared]);
            let place = format!("src/{}:{}", file.path.display(), named.line);
            if !children[folder].contains(to.as_str()) {
                folders.up.push(format!(
                    "{place}: `{}` is an item of {}, the front of a folder the file is in",
                    named.written,
                    fronts[folder].join(" / "),
                ));
            } else if shared > 0 {
                // (At the crate root, LAYERS orders the modules.)
                folders
                    .edges
                    .entry(folder.to_vec())
                    .or_default()
                    .push(Edge {
                        from: from.clone(),
                        to: to.clone(),
                        evidence: format!("{place}: {}", named.written),
                    });
            }
        }
    }
    folders
}

/// Whether `to` is reachable from `from` along `edges`.
fn reaches(edges: &[Edge], from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from];
    while let Some(node) = todo.pop() {
        for edge in edges.iter().filter(|e| e.from == node) {
            if edge.to == to {
                return true;
            }
            if seen.insert(edge.to.as_str()) {
                todo.push(&edge.to);
            }
        }
    }
    false
}

/// The circles among the children of each folder: every group of children
/// that reach each other (one circle, or several through shared members),
/// with the imports between them.
fn circles(folders: &Folders) -> Vec<String> {
    let mut found = Vec::new();
    for (module, edges) in &folders.edges {
        let mut reported = BTreeSet::new();
        for edge in edges {
            let group: BTreeSet<&str> = edges
                .iter()
                .map(|e| e.to.as_str())
                .filter(|&other| {
                    reaches(edges, &edge.from, other) && reaches(edges, other, &edge.from)
                })
                .collect();
            if group.is_empty() || !reported.insert(group.clone()) {
                continue;
            }
            let names: Vec<&str> = group.iter().copied().collect();
            found.push(format!("in {}: {}", module.join("::"), names.join(", ")));
            let inside = edges
                .iter()
                .filter(|e| group.contains(e.from.as_str()) && group.contains(e.to.as_str()));
            for edge in inside {
                found.push(format!("  {} -> {}: {}", edge.from, edge.to, edge.evidence));
            }
        }
    }
    found
}

fn crate_files() -> Vec<SourceFile> {
    module_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn every_file_is_in_the_module_tree() {
    // A file no `mod` declaration reaches is not compiled, and no rule here
    // would look at it: delete it or declare it.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    sources(&src, &mut all);
    let tree: BTreeSet<_> = crate_files().into_iter().map(|f| f.path).collect();
    assert!(
        tree.len() > 20,
        "found only {} files: is the module tree broken?",
        tree.len()
    );
    let stray: Vec<String> = all
        .iter()
        .map(|path| path.strip_prefix(&src).unwrap().to_path_buf())
        .filter(|path| path != Path::new("main.rs") && !tree.contains(path))
        .map(|path| format!("src/{}", path.display()))
        .collect();
    assert!(
        stray.is_empty(),
        "files no `mod` declares:\n{}",
        stray.join("\n")
    );
}

#[test]
fn no_file_imports_from_the_front_of_its_folder() {
    let folders = classify(&crate_files());
    assert!(
        folders.up.is_empty(),
        "imports from a front file by a file inside its folder (import from \
         a sibling instead; what siblings share belongs in a file of its own):\n{}",
        folders.up.join("\n")
    );
}

#[test]
fn no_circle_between_the_files_of_a_folder() {
    let folders = classify(&crate_files());
    let edges: usize = folders.edges.values().map(Vec::len).sum();
    assert!(
        edges > 10,
        "found only {edges} imports between sibling files: is the parser broken?"
    );
    let circles = circles(&folders);
    assert!(
        circles.is_empty(),
        "files of one folder that import each other in a circle (move what \
         they share into a file that imports none of them):\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_rules_tell_siblings_from_the_front() {
    let file = |path: &str, module: &[&str], source: &str| {
        let module: Vec<String> = module.iter().map(|m| m.to_string()).collect();
        SourceFile {
            path: path.into(),
            parsed: parse(source, &module),
            module,
        }
    };
    let files = [
        file("lib.rs", &[], "mod m;\npub fn run() {}"),
        file(
            "m/mod.rs",
            &["m"],
            "mod a; mod b; mod c; mod d; mod tests;\npub struct Front;",
        ),
        file("m/a.rs", &["m", "a"], "use super::b::X;\nuse super::Front;"),
        file("m/b.rs", &["m", "b"], "use super::{c::Y, d::Z};"),
        file("m/c.rs", &["m", "c"], "fn f() { crate::m::a::g() }"),
        file("m/d.rs", &["m", "d"], "use crate::run;"),
        file(
            "m/tests.rs",
            &["m", "tests"],
            "use super::*;\nuse super::a::X;",
        ),
    ];
    let folders = classify(&files);
    assert_eq!(
        folders.up,
        [
            "src/m/a.rs:2: `super::Front` is an item of src/m/mod.rs, the front of a folder the file is in",
            "src/m/d.rs:1: `crate::run` is an item of src/lib.rs, the front of a folder the file is in",
        ]
    );
    assert_eq!(
        circles(&folders),
        [
            "in m: a, b, c",
            "  a -> b: src/m/a.rs:1: super::b::X",
            "  b -> c: src/m/b.rs:1: super::c::Y",
            "  c -> a: src/m/c.rs:1: crate::m::a::g",
        ]
    );
}

#[test]
fn the_module_parser_expands_groups_and_resolves_super() {
    let source = "\
use super::{a::B, c};
pub use crate::x::{y::{self, Z}, *};
// use super::commented;
/* use super::blocked; */
let s = \"crate::quoted\";
let r = r#\"super::raw\"#;
let c = '\"'; let q = '\\''; let l: &'static str = \"\";
crate::sys::f(super::super::g);
#[cfg_attr(unix, path = \"p/u.rs\")]
#[cfg_attr(windows, path = \"p/w.rs\")]
mod sys;
pub(crate) mod child;
#[cfg(test)]
mod tests {
    use super::*;
}
use super::{
    d,
    e as E,
};
";
    let module = ["m".to_string(), "f".to_string()];
    let parsed = parse(source, &module);
    let targets: Vec<String> = parsed.named.iter().map(|n| n.target.join("::")).collect();
    assert_eq!(
        targets,
        ["m::a::B", "m::c", "x::y", "x::y::Z", "x::*", "sys::f", "g", "m::f::*", "m::d", "m::e"]
    );
    let lines: Vec<usize> = parsed.named.iter().map(|n| n.line).collect();
    assert_eq!(lines, [1, 1, 2, 2, 2, 8, 8, 15, 18, 19]);
    assert_eq!(parsed.named[6].written, "super::super::g");
    assert_eq!(
        parsed.declared,
        [
            (
                "sys".to_string(),
                vec!["p/u.rs".to_string(), "p/w.rs".to_string()]
            ),
            ("child".to_string(), vec![]),
        ]
    );
}
