//! Nova's metadata as the agent reads it: the `openstack/latest` files, the config drive image
//! (ISO 9660 or vfat) and what `solum-agent init` takes from the metadata.

use std::io::Cursor;

use solum_agent::hostsetup;
use solum_agent::metadata::{configdrive, from_files, iso9660, MAX_FILE_BYTES};

use super::parts;

/// The files of `openstack/latest`, NUL-separated in the input: `meta_data.json`,
/// `network_data.json`, `vendor_data.json`, `vendor_data2.json`, `user_data` (a missing part is
/// an absent file); then the host name and ssh keys `init` would apply.
pub fn nova(data: &[u8]) {
    let files = parts(data);
    let file = |name: &str| {
        let i = match name {
            "meta_data.json" => 0,
            "network_data.json" => 1,
            "vendor_data.json" => 2,
            "vendor_data2.json" => 3,
            "user_data" => 4,
            _ => return Ok(None),
        };
        Ok(files.get(i).map(|b| b.to_vec()))
    };
    let Ok(nova) = from_files("fuzz", file) else {
        return;
    };
    nova.uuid();
    nova.name();
    nova.meta("solum_wait_url");
    if let Some(name) = nova.meta_data.get("hostname").and_then(|v| v.as_str()) {
        if let Ok((short, fqdn)) = hostsetup::hostname(name) {
            hostsetup::hosts_file("127.0.0.1\tlocalhost\n", &short, &fqdn);
        }
    }
    let keys = hostsetup::key_lines(&nova.public_keys());
    hostsetup::authorized_keys("ssh-ed25519 AAAA old\n", &keys);
}

/// The ISO 9660 reader over the input as an image: the files a config drive holds.
pub fn iso9660(data: &[u8]) {
    let mut img = Cursor::new(data);
    if !matches!(iso9660::is_iso(&mut img), Ok(true)) {
        return;
    }
    for path in [
        "openstack/latest/meta_data.json",
        "openstack/latest/user_data",
        "openstack/content/0000",
        "ec2/latest/meta-data.json",
    ] {
        let _ = iso9660::read_file(&mut img, path, MAX_FILE_BYTES);
    }
}

/// The input as a config drive device (an image file), read by `configdrive::read` as
/// `solum-agent collect/run` reads `/dev/disk/by-label/config-2`.
pub fn config_drive(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let image = dir.path().join("config-2.img");
    std::fs::write(&image, data).expect("writing the image");
    let _ = configdrive::read(&image);
}
