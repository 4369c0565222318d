//! ARCHITECTURE.md's code map names only what exists: in each `### ` section of `## Code map`,
//! every backticked token that looks like a file or directory path (`name.rs`, `dir/`,
//! `dir/name.rs`) must exist in the crate the section is about, under its `src/` or the crate
//! directory itself (for `tests/`, `corpus/`, `systemd/`). The crate is the section heading's
//! first backticked token when the heading says `(crate ...)`; other sections (and the text
//! before the first heading) resolve against the repository root.

use std::path::{Path, PathBuf};

/// The code map's path tokens that do not exist, and how many were checked.
fn missing(architecture: &str, root: &Path) -> (Vec<String>, usize) {
    let Some(start) = architecture.find("\n## Code map\n") else {
        return (vec!["no `## Code map` section".into()], 0);
    };
    let map = &architecture[start + 1..];
    let map = &map[..map[3..].find("\n## ").map_or(map.len(), |e| e + 3)];

    // Each section: its heading's bases and its text (lines joined, so that a backticked
    // span wrapped over two lines is still one span).
    let mut sections: Vec<(Vec<PathBuf>, String)> = vec![(vec![root.to_path_buf()], String::new())];
    for line in map.lines().skip(1) {
        if let Some(heading) = line.strip_prefix("### ") {
            let bases = match heading.split('`').nth(1) {
                Some(dir) if heading.contains("(crate ") => {
                    let krate = root.join(dir.trim_end_matches('/'));
                    vec![krate.join("src"), krate]
                }
                _ => vec![root.to_path_buf()],
            };
            sections.push((bases, String::new()));
        } else {
            let text = &mut sections.last_mut().expect("one section at least").1;
            text.push_str(line);
            text.push(' ');
        }
    }

    let mut missing = Vec::new();
    let mut checked = 0;
    for (bases, text) in &sections {
        for token in text.split('`').skip(1).step_by(2) {
            let pathlike = !token.is_empty()
                && token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
                && (token.ends_with(".rs") || token.ends_with('/'));
            if !pathlike {
                continue;
            }
            checked += 1;
            if !bases.iter().any(|b| b.join(token).exists()) {
                let tried: Vec<String> = bases
                    .iter()
                    .map(|b| {
                        b.strip_prefix(root)
                            .unwrap_or(b)
                            .join(token)
                            .display()
                            .to_string()
                    })
                    .collect();
                missing.push(format!("`{token}` (looked for {})", tried.join(", ")));
            }
        }
    }
    (missing, checked)
}

fn repo() -> (PathBuf, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("reading ARCHITECTURE.md");
    (root, text)
}

#[test]
fn code_map_names_only_what_exists() {
    let (root, text) = repo();
    let (missing, checked) = missing(&text, &root);
    assert!(
        checked >= 40,
        "only {checked} paths read from the code map: is its format still `### ` sections with backticked paths?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map names {} path(s) that do not exist:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn a_bogus_name_is_caught_in_its_crate() {
    let (root, text) = repo();
    // `nosuch.rs` in the agent's section, and `cmd.rs` (an edge module, not an agent one)
    // there too: both must be reported; `cmd.rs` in edge's section is fine.
    let bogus = text.replacen(
        "### `agent/` (crate `solum-agent`, binary + library)\n",
        "### `agent/` (crate `solum-agent`, binary + library)\n`nosuch.rs`, `cmd.rs`, `nosuch/`\n",
        1,
    );
    assert_ne!(
        bogus, text,
        "the agent's section heading changed; update this test"
    );
    let (missing, _) = missing(&bogus, &root);
    assert_eq!(missing.len(), 3, "{missing:?}");
    assert!(
        missing[0].starts_with("`nosuch.rs` (looked for agent/src/nosuch.rs"),
        "{missing:?}"
    );
    assert!(missing[1].starts_with("`cmd.rs`"), "{missing:?}");
    assert!(missing[2].starts_with("`nosuch/`"), "{missing:?}");
}
