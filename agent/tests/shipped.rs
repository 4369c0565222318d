//! Files the project ships in two places stay identical.

use std::path::Path;

#[test]
fn the_buildpack_stack_element_carries_the_agents_launcher() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let agent = std::fs::read(root.join("agent/src/stack/solum-start.sh")).unwrap();
    let element =
        std::fs::read(root.join("elements/buildpack-stack/static/usr/local/bin/solum-start"))
            .unwrap();
    assert!(agent == element, "elements/buildpack-stack/static/usr/local/bin/solum-start differs from agent/src/stack/solum-start.sh: copy it over");
}
