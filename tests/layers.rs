//! Every module imports only from the layers below its own (see the crate
//! documentation in `src/lib.rs`): a circle of imports, or an arrow pointing
//! up, means a piece of logic sits in the wrong layer.

use std::path::Path;

/// The layers, top first.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["exec", "supervise"],
    &["watch", "notify", "listening"],
    &["output"],
    &["config", "activation"],
    &["socket"],
    &["spec", "signal", "socket_server", "error"],
    &["sys"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The crate's modules each line of `source` names (`crate::NAME`), outside
/// comments.
fn imports(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((number + 1, name));
        }
    }
    found
}

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
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap();
        let module = first.as_os_str().to_str().unwrap().trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue; // the top: they may use anything
        }
        let own = layer(module)
            .unwrap_or_else(|| panic!("{module} is in no layer: add it to LAYERS and lib.rs"));
        let source = std::fs::read_to_string(file).unwrap();
        for (line, name) in imports(&source) {
            checked += 1;
            if name == module {
                continue;
            }
            match layer(&name) {
                Some(theirs) if theirs > own => {}
                _ => wrong.push(format!(
                    "{}:{line}: {module} (layer {}) imports {name}",
                    relative.display(),
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
    let found = imports("use crate::a::B;\n// crate::c\nlet x = crate::d::f(crate::e::G);\n");
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["a", "d", "e"]);
}
