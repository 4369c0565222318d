//! Butane and Ignition, as `solum-image ignition` and the CoreOS variant read them.

use solum_image::ignition_cmd::butane_file;

/// A Butane file (beside it the local files `index.html`, `autologin.conf`, `key.pub`), converted as
/// `solum-image ignition --butane FILE` does; the Ignition JSON it prints must pass the
/// crate's own parser and validator.
pub fn butane(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, text) in [
        ("index.html", "<h1>hello</h1>\n"),
        ("autologin.conf", "[Service]\nExecStart=\n"),
        ("key.pub", "ssh-ed25519 AAAA fuzz\n"),
    ] {
        std::fs::write(dir.path().join(name), text).expect("a local file");
    }
    let file = dir.path().join("config.bu");
    std::fs::write(&file, data).expect("writing the Butane file");
    if let Ok((json, _warnings)) = butane_file(&file) {
        if let Err(e) = solum_ignition::parse_valid(json.as_bytes()) {
            panic!("Butane produced a config its own validator refuses: {e}\n{json}");
        }
    }
}

/// An Ignition config: parsed, checked, and a valid one written back and parsed again.
pub fn ignition(data: &[u8]) {
    let _ = solum_ignition::check(data);
    if let Ok((cfg, _)) = solum_ignition::parse_valid(data) {
        let json = solum_ignition::to_json(&cfg);
        if let Err(e) = solum_ignition::parse_valid(json.as_bytes()) {
            panic!("a valid config written back is refused: {e}\n{json}");
        }
    }
}
