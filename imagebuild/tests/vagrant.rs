//! The vagrant-libvirt box and its catalog, as `-t vagrant` writes them, accepted by the real
//! `vagrant box add` (Debian's vagrant + vagrant-libvirt), checksum verified, listed with
//! provider libvirt; a wrong checksum is refused. Never `vagrant up` (it would create a libvirt
//! network). FAILS, never skips, when vagrant or vagrant-libvirt is missing.

use solum_image::vagrant;
use std::path::Path;
use std::process::{Command, Output};

fn require_vagrant() {
    let ok = Command::new("vagrant")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`vagrant` is not installed: apt-get install --no-install-recommends vagrant vagrant-libvirt"
    );
}

fn vagrant(home: &Path, args: &[&str]) -> Output {
    Command::new("vagrant")
        .args(args)
        .env("VAGRANT_HOME", home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_DEFAULT_PROVIDER", "libvirt")
        .env_remove("VAGRANT_CWD")
        .current_dir(home)
        .output()
        .expect("run vagrant")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn make_box(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let qcow2 = dir.join("disk.qcow2");
    let o = Command::new("qemu-img")
        .args(["create", "-f", "qcow2"])
        .arg(&qcow2)
        .arg("1G")
        .output()
        .expect("qemu-img (apt install qemu-utils)");
    assert!(o.status.success(), "{}", text(&o));
    let b = dir.join(format!("{name}.box"));
    vagrant::write_box(&qcow2, 1 << 30, &b).expect("write box");
    let sum = solum_image::output::sha256_file(&b).expect("sha256");
    (b, sum)
}

#[test]
fn box_added_from_catalog_with_checksum_and_listed_as_libvirt() {
    require_vagrant();
    let plugins = Command::new("vagrant")
        .args(["plugin", "list"])
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .expect("vagrant plugin list");
    assert!(
        text(&plugins).contains("vagrant-libvirt"),
        "the vagrant-libvirt plugin is missing (apt-get install vagrant-libvirt): {}",
        text(&plugins)
    );
    let t = tempfile::tempdir().expect("tempdir");
    let home = t.path().join("vagrant-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let name = format!("solum-test-box-{}", std::process::id());
    let (b, sum) = make_box(t.path(), &name);
    let catalog = t.path().join(format!("{name}.json"));
    std::fs::write(
        &catalog,
        vagrant::catalog(&name, &vagrant::file_url(&b), &sum),
    )
    .expect("catalog");

    let o = vagrant(&home, &["box", "add", catalog.to_str().unwrap_or("?")]);
    assert!(o.status.success(), "vagrant box add: {}", text(&o));
    let list = vagrant(&home, &["box", "list"]);
    let listed = text(&list);
    assert!(
        listed.contains(&name)
            && listed.contains("libvirt")
            && listed.contains(vagrant::BOX_VERSION),
        "vagrant box list: {listed}"
    );
    let img = walkdir::WalkDir::new(home.join("boxes").join(&name))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "box.img")
        .map(|e| e.into_path())
        .expect("box.img in the added box");
    assert!(
        img.to_string_lossy().contains("libvirt"),
        "{}",
        img.display()
    );
    let info = Command::new("qemu-img")
        .arg("info")
        .arg(&img)
        .output()
        .expect("qemu-img info");
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("file format: qcow2"),
        "{}: {}",
        img.display(),
        text(&info)
    );

    // a catalog whose checksum does not match the box is refused
    let bad_name = format!("{name}-bad");
    let bad = t.path().join(format!("{bad_name}.json"));
    let wrong = "0".repeat(64);
    std::fs::write(
        &bad,
        vagrant::catalog(&bad_name, &vagrant::file_url(&b), &wrong),
    )
    .expect("bad catalog");
    let o = vagrant(&home, &["box", "add", bad.to_str().unwrap_or("?")]);
    assert!(!o.status.success(), "a wrong checksum was accepted");
    assert!(text(&o).to_lowercase().contains("checksum"), "{}", text(&o));
    let listed = text(&vagrant(&home, &["box", "list"]));
    assert!(!listed.contains(&bad_name), "{listed}");
}
