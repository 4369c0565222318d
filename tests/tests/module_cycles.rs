//! No cycles between modules: in `agent`, `imagebuild` and `ignition`, the sibling modules of
//! every parent (the crate root included) form a graph without cycles, read from the `crate::`,
//! `super::` and `self::` paths of their code (tests left out; `solum_tests::modgraph`).

use solum_tests::modgraph;
use std::path::Path;

fn check(krate: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let edges = modgraph::edges(&src);
    assert!(
        !edges.is_empty(),
        "{krate}: no module edges read from {}",
        src.display()
    );
    modgraph::cycles(&edges)
        .into_iter()
        .map(|c| format!("{krate}: {c}"))
        .collect()
}

#[test]
fn no_cycles_between_modules() {
    let mut all = Vec::new();
    for krate in ["agent", "imagebuild", "ignition"] {
        all.extend(check(krate));
    }
    assert!(
        all.is_empty(),
        "{} cycles between modules:\n{}",
        all.len(),
        all.join("\n")
    );
}
