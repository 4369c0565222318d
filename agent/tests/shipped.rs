//! Files the project ships in two places stay identical.

use std::path::Path;

#[test]
fn the_buildpack_stack_element_carries_the_agents_launcher() {
    // One recipe: the agent embeds the element's files (launcher, package list, user set-up,
    // clean-up) and keeps no copy of its own that could drift.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let element = root.join("elements/buildpack-stack");
    let read = |p: &str| std::fs::read_to_string(element.join(p)).unwrap();
    assert_eq!(
        solum_agent::stack::LAUNCHER,
        read("static/usr/local/bin/solum-start")
    );
    assert_eq!(
        solum_agent::stack::ELEMENT_PACKAGES,
        read("package-installs.yaml")
    );
    assert_eq!(
        solum_agent::stack::USER_SETUP,
        read("install.d/50-stack-user")
    );
    assert_eq!(solum_agent::stack::SLIM, read("finalise.d/95-stack-slim"));
    let copies: Vec<_> = std::fs::read_dir(root.join("agent/src/stack"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".rs") && n != "customize.sh")
        .collect();
    assert!(copies.is_empty(), "a second copy of the recipe: {copies:?}");
}
