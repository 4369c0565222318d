//! `solum-image ignition`: Butane with `local:` files, the app VM config (checked by Debian's
//! `ignition-validate`, which must be installed), and `--embed` into a GPT image made with
//! sfdisk + mkfs.ext4 (raw and qcow2), read back with debugfs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl op@test";

fn solum_image(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_solum-image"))
        .args(args)
        .output()
        .expect("run solum-image")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn validate(path: &Path) {
    let out = Command::new("ignition-validate")
        .arg(path)
        .output()
        .expect("ignition-validate must be installed (apt-get install ignition)");
    assert!(
        out.status.success(),
        "ignition-validate {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn decode_file(cfg: &serde_json::Value, path: &str) -> Vec<u8> {
    let file = cfg["storage"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} missing"));
    let url = file["contents"]["source"].as_str().expect("source");
    let data = solum_ignition::dataurl::decode(url).expect("data url").data;
    if file["contents"]["compression"] == "gzip" {
        let mut out = Vec::new();
        flate2_read(&data, &mut out);
        out
    } else {
        data
    }
}

fn flate2_read(gz: &[u8], out: &mut Vec<u8>) {
    // gunzip(1) keeps the test free of an extra dev-dependency.
    use std::io::Write;
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(gz)
        .expect("write");
    let o = child.wait_with_output().expect("gzip output");
    assert!(o.status.success());
    out.extend(o.stdout);
}

#[test]
fn butane_with_local_files_passes_ignition_validate() {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(d.path().join("files")).expect("mkdir");
    std::fs::write(d.path().join("files/motd"), "welcome\n").expect("write");
    let bu = d.path().join("config.bu");
    std::fs::write(
        &bu,
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /etc/motd\n      mode: 0644\n      contents:\n        local: files/motd\nsystemd:\n  units:\n    - name: hello.service\n      enabled: true\n      contents: |\n        [Service]\n        ExecStart=/bin/echo hi\n        [Install]\n        WantedBy=multi-user.target\n",
    )
    .expect("write");
    let ign = d.path().join("config.ign");
    ok(&solum_image(&[
        "ignition",
        "--butane",
        p(&bu),
        "-o",
        p(&ign),
    ]));
    validate(&ign);
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ign).expect("read")).expect("json");
    assert_eq!(cfg["ignition"]["version"], "3.3.0");
    assert_eq!(decode_file(&cfg, "/etc/motd"), b"welcome\n");
    assert_eq!(cfg["systemd"]["units"][0]["enabled"], true);

    // A local name that leaves the directory, and a YAML error with its line.
    std::fs::write(
        &bu,
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /etc/x\n      contents:\n        local: ../secret\n",
    )
    .expect("write");
    let out = solum_image(&["ignition", "--butane", p(&bu)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("leaves the files directory"), "{err}");
    std::fs::write(&bu, "variant: fcos\nversion: 1.4.0\nstorage:\n  files: [\n").expect("write");
    let out = solum_image(&["ignition", "--butane", p(&bu)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("config.bu") && err.contains("line "), "{err}");
}

fn app_vm(dir: &Path) -> (PathBuf, Vec<u8>) {
    let agent = dir.join("solum-agent");
    let bytes: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&agent, &bytes).expect("write");
    let plan = dir.join("Planfile");
    std::fs::write(&plan, "version: 1\nname: hello\nartifacts: []\n").expect("write");
    let keyfile = dir.join("id.pub");
    std::fs::write(&keyfile, format!("{KEY}\n")).expect("write");
    let ign = dir.join("app.ign");
    ok(&solum_image(&[
        "ignition",
        "--agent",
        p(&agent),
        "--ssh-key",
        p(&keyfile),
        "--planfile",
        p(&plan),
        "-o",
        p(&ign),
    ]));
    (ign, bytes)
}

#[test]
fn app_vm_config_passes_ignition_validate() {
    let d = tempfile::tempdir().expect("tmp");
    let (ign, agent) = app_vm(d.path());
    validate(&ign);
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ign).expect("read")).expect("json");
    assert_eq!(decode_file(&cfg, "/usr/local/bin/solum-agent"), agent);
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/systemd/solum-agent.service"),
    )
    .expect("unit");
    let units = cfg["systemd"]["units"].as_array().expect("units");
    assert!(units.iter().any(|u| u["name"] == "solum-agent.service"
        && u["contents"] == unit.as_str()
        && u["enabled"] == true));
    assert!(units
        .iter()
        .any(|u| u["name"] == "docker.service" && u["enabled"] == true));
    assert_eq!(cfg["passwd"]["users"][0]["sshAuthorizedKeys"][0], KEY);
    let doc: serde_json::Value = serde_json::from_slice(&decode_file(
        &cfg,
        "/var/lib/os-collect-config/local-data/50-solum-planfile.json",
    ))
    .expect("local data");
    assert_eq!(doc["deployments"][0]["group"], "solum");
    assert!(doc["deployments"][0]["config"]
        .as_str()
        .expect("config")
        .contains("name: hello"));
    let conf = decode_file(&cfg, "/etc/solum-agent/config.yaml");
    assert!(String::from_utf8_lossy(&conf).contains("state_dir"));

    // The URL form, and the errors.
    let sum = "0f".repeat(64);
    let out = ok(&solum_image(&[
        "ignition",
        "--agent-url",
        "https://images.example/solum-agent",
        "--agent-sha512",
        &sum,
    ]));
    let url_ign = d.path().join("url.ign");
    std::fs::write(&url_ign, &out).expect("write");
    validate(&url_ign);
    let out = solum_image(&[
        "ignition",
        "--agent-url",
        "https://x/a",
        "--agent-sha512",
        "12",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("128 hex digits"));
    let out = solum_image(&[
        "ignition",
        "--agent",
        p(&d.path().join("solum-agent")),
        "--ssh-key=-----BEGIN OPENSSH PRIVATE KEY----- abc",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ssh-key #1") && !err.contains("BEGIN"),
        "{err}"
    );
}

/// A GPT disk file shaped like Fedora CoreOS: BIOS-BOOT, EFI-SYSTEM, boot (ext4), root.
fn coreos_shaped(path: &Path) {
    let f = std::fs::File::create(path).expect("create");
    f.set_len(64 << 20).expect("size");
    drop(f);
    let mut sf = Command::new("sfdisk")
        .arg("-q")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk must be installed");
    {
        use std::io::Write;
        sf.stdin
            .take()
            .expect("stdin")
            .write_all(b"label: gpt\nstart=2048,size=2048,name=BIOS-BOOT\nstart=4096,size=20480,name=EFI-SYSTEM\nstart=24576,size=40960,name=boot\nstart=65536,name=root\n")
            .expect("write");
    }
    assert!(sf.wait().expect("sfdisk").success());
    for (label, start, size) in [("boot", 24576u64, 40960u64), ("root", 65536, 40960)] {
        let st = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", label, "-E"])
            .arg(format!("offset={}", start * 512))
            .arg(path)
            .arg(format!("{}k", size / 2))
            .status()
            .expect("mkfs.ext4");
        assert!(st.success());
    }
}

fn debugfs(img: &Path, offset: u64, req: &str) -> Vec<u8> {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(req)
        .arg(format!("{}?offset={offset}", img.display()))
        .output()
        .expect("debugfs");
    assert!(out.status.success());
    out.stdout
}

#[test]
fn embed_into_boot_partition_raw_and_qcow2() {
    let d = tempfile::tempdir().expect("tmp");
    let (ign, _) = app_vm(d.path());
    let img = d.path().join("fcos.raw");
    coreos_shaped(&img);
    let snippet = d.path().join("heat.yaml");
    let out = solum_image(&[
        "ignition",
        "--embed",
        p(&img),
        "--config",
        p(&ign),
        "--heat-snippet",
        p(&snippet),
    ]);
    ok(&out);
    let off = 24576 * 512;
    assert_eq!(
        debugfs(&img, off, "cat ignition/config.ign"),
        std::fs::read(&ign).expect("read")
    );
    let stat = String::from_utf8_lossy(&debugfs(&img, off, "stat ignition")).into_owned();
    assert!(stat.contains("Mode:  0700"), "{stat}");
    let stat =
        String::from_utf8_lossy(&debugfs(&img, off, "stat ignition/config.ign")).into_owned();
    assert!(stat.contains("Mode:  0600"), "{stat}");
    let stat = String::from_utf8_lossy(&debugfs(&img, off, "stat ignition.firstboot")).into_owned();
    assert!(stat.contains("Type: regular"), "{stat}");
    // The root filesystem is untouched.
    let root = String::from_utf8_lossy(&debugfs(&img, 65536 * 512, "ls")).into_owned();
    assert!(!root.contains("ignition"), "{root}");
    let heat: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&snippet).expect("snippet")).expect("yaml");
    let props = &heat["resources"]["server"]["properties"];
    assert_eq!(props["user_data_format"].as_str(), Some("RAW"));
    let ud: serde_json::Value =
        serde_json::from_str(props["user_data"].as_str().expect("user_data")).expect("json");
    let orig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ign).expect("read")).expect("json");
    assert_eq!(ud, orig);

    // Again (replaces), into a qcow2 copy.
    let q = d.path().join("fcos.qcow2");
    assert!(Command::new("qemu-img")
        .args(["convert", "-O", "qcow2"])
        .arg(&img)
        .arg(&q)
        .status()
        .expect("qemu-img")
        .success());
    let small = d.path().join("small.ign");
    std::fs::write(&small, "{\"ignition\":{\"version\":\"3.3.0\"}}\n").expect("write");
    ok(&solum_image(&[
        "ignition",
        "--embed",
        p(&q),
        "--config",
        p(&small),
    ]));
    let back = d.path().join("back.raw");
    assert!(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&q)
        .arg(&back)
        .status()
        .expect("qemu-img")
        .success());
    assert_eq!(
        debugfs(&back, off, "cat ignition/config.ign"),
        std::fs::read(&small).expect("read")
    );
    let left: Vec<_> = std::fs::read_dir(d.path())
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".solum-embed"))
        .collect();
    assert!(left.is_empty(), "temporary files left behind");

    // Errors: an invalid config, a disk without a boot filesystem.
    std::fs::write(
        &small,
        "{\"ignition\":{\"version\":\"3.3.0\"},\"storage\":{\"files\":[{\"path\":\"rel\"}]}}",
    )
    .expect("write");
    let out = solum_image(&["ignition", "--embed", p(&img), "--config", p(&small)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid Ignition config"));
    let plain = d.path().join("plain.raw");
    std::fs::write(&plain, vec![0u8; 4 << 20]).expect("write");
    let out = solum_image(&["ignition", "--embed", p(&plain), "--config", p(&ign)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain.raw"));
}

/// heat/coreos-app-vm.yaml gives the server its Ignition config as SOFTWARE_CONFIG user_data;
/// Heat's own `build_userdata` (openstack-heat, from the test venv) adds the metadata to it as
/// files, and the result is a config Ignition accepts, under the parameter's limit. Everything
/// but the server and two parameters is heat/app-vm.yaml's.
#[test]
fn heat_template_gives_ignition_the_metadata() {
    let load = |name: &str| -> serde_norway::Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../heat")
            .join(name);
        serde_norway::from_str(&std::fs::read_to_string(&path).expect("template")).expect("yaml")
    };
    let (t, app) = (load("coreos-app-vm.yaml"), load("app-vm.yaml"));
    let props = &t["resources"]["server"]["properties"];
    assert_eq!(props["user_data_format"].as_str(), Some("SOFTWARE_CONFIG"));
    assert_eq!(
        props["software_config_transport"].as_str(),
        Some("POLL_TEMP_URL")
    );
    assert_eq!(
        props["user_data"]["get_param"].as_str(),
        Some("ignition_config")
    );
    for (name, r) in t["resources"].as_mapping().expect("resources") {
        if name.as_str() != Some("server") {
            assert_eq!(
                r, &app["resources"][name],
                "{name:?} differs from heat/app-vm.yaml"
            );
        }
    }
    for (name, p) in t["parameters"].as_mapping().expect("parameters") {
        if !["image", "ignition_config"].contains(&name.as_str().unwrap_or("")) {
            assert_eq!(
                p, &app["parameters"][name],
                "{name:?} differs from heat/app-vm.yaml"
            );
        }
    }
    let d = tempfile::tempdir().expect("tmp");
    let given = ok(&solum_image(&[
        "ignition",
        "--agent-installed",
        "--ssh-key",
        KEY,
    ]));
    let metadata = serde_json::json!({"deployments": [], "os-collect-config": {
        "collectors": ["ec2", "request", "local"],
        "request": {"metadata_url": "https://swift.example/v1/AUTH_p/c/o?temp_url_sig=abc&temp_url_expires=1"}}});
    let user_data = solum_tests::heat::user_data(&metadata, &given);
    let limit = t["parameters"]["ignition_config"]["constraints"][0]["length"]["max"]
        .as_u64()
        .expect("limit");
    assert!(
        (user_data.len() as u64) < limit,
        "{} bytes",
        user_data.len()
    );
    let cfg: serde_json::Value = serde_json::from_slice(&user_data).expect("Heat kept it JSON");
    let files = cfg["storage"]["files"].as_array().expect("files");
    assert!(files
        .iter()
        .any(|f| f["path"] == "/var/lib/heat-cfntools/cfn-init-data"));
    let ign = d.path().join("heat.ign");
    std::fs::write(&ign, &user_data).expect("write");
    validate(&ign);
}
