//! Butane conversion cases: YAML in, expected Ignition JSON (or error) out.

use super::butane_to_ignition;

fn resolver(name: &str) -> Result<Vec<u8>, String> {
    match name {
        "motd" => Ok(b"from a local file\n".to_vec()),
        "keys" => Ok(b"# team keys\nssh-ed25519 AAAA one\n\nssh-ed25519 BBBB two\n".to_vec()),
        _ => Err("no such file".into()),
    }
}

/// Converts `yaml` and compares the compact JSON with `expect` (`Err(fragment)` for errors).
fn check(yaml: &str, expect: Result<&str, &str>) {
    let got = butane_to_ignition(yaml, &resolver).map(|(c, _)| crate::to_json(&c));
    match expect {
        Ok(json) => assert_eq!(got.expect(yaml), json),
        Err(fragment) => {
            let e = got.expect_err(yaml).to_string();
            assert!(e.contains(fragment), "{yaml}\n{e}");
        }
    }
}

#[test]
fn files_units_users() {
    check(
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /etc/motd\n      mode: 0644\n      contents:\n        inline: hi\n",
        Ok(r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/motd","mode":420,"contents":{"source":"data:,hi","verification":{"hash":"sha512-150a14ed5bea6cc731cf86c41566ac427a8db48ef1b9fd626664b3bfbb99071fa4c922f33dde38719b8c8354e2b7ab9d77e0e67fc12843920a712e73d558e197"}}}]}}"#),
    );
    check(
        "variant: fcos\nversion: 1.0.0\nstorage:\n  files:\n    - path: /a\n      mode: 420\n      contents:\n        source: https://example.com/a\n",
        Ok(r#"{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"/a","mode":420,"contents":{"source":"https://example.com/a"}}]}}"#),
    );
    check(
        "variant: fcos\nversion: 1.5.0\nsystemd:\n  units:\n    - name: app.service\n      enabled: true\n      contents: |\n        [Service]\n        ExecStart=/bin/true\n        [Install]\n        WantedBy=multi-user.target\n      dropins:\n        - name: env.conf\n          contents: \"[Service]\\nEnvironment=A=1\\n\"\npasswd:\n  users:\n    - name: core\n      ssh_authorized_keys: [\"ssh-ed25519 AAAA core\"]\n      groups: [wheel]\n",
        Ok(r#"{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 AAAA core"],"groups":["wheel"]}]},"systemd":{"units":[{"name":"app.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n","dropins":[{"name":"env.conf","contents":"[Service]\nEnvironment=A=1\n"}]}]}}"#),
    );
}

#[test]
fn local_contents_come_from_the_resolver() {
    let (cfg, _) = butane_to_ignition(
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /etc/motd\n      contents:\n        local: motd\n",
        &resolver,
    )
    .expect("valid");
    let got = crate::validate::contents_of(&cfg.storage.files[0].contents);
    assert_eq!(got, Some(Ok(b"from a local file\n".to_vec())));
    check("variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /x\n      contents:\n        local: nope\n", Err("storage.files[0].contents: local \"nope\": no such file"));
}

#[test]
fn bad_input_is_reported_with_its_place() {
    check(
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /a\n      colour: red\n",
        Err("line 6"),
    );
    check(
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /a\n      colour: red\n",
        Err("unknown field `colour`"),
    );
    check(
        "variant: fcos\nversion: 1.4.0\nsystemd:\n  unitz: []\n",
        Err("line 4"),
    );
    check(
        "variant: fcos\nversion: 9.0.0\n",
        Err("not a known fcos version"),
    );
    check("variant: rhcos\nversion: 1.4.0\n", Err("only \"fcos\""));
    check(
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: a\n",
        Err("/storage/files/0/path"),
    );
    check(
        "variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /a\n      mode: rw\n",
        Err("storage.files[0].mode"),
    );
    check("variant: fcos\nversion: 1.4.0\nstorage:\n  files:\n    - path: /a\n      contents:\n        inline: x\n        local: motd\n", Err("only one of"));
    check("variant: fcos\nversion: 1.4.0\nstorage: [\n", Err("line"));
    check("variant: fcos\nversion: 1.4.0\npasswd:\n  users:\n    - name: a\n      password_hash: [hunter2]\n", Err("line 6"));
    let e = butane_to_ignition("variant: fcos\nversion: 1.4.0\npasswd:\n  users:\n    - name: a\n      password_hash: [hunter2]\n", &resolver);
    assert!(!e.expect_err("not a string").to_string().contains("hunter2"));
}

#[test]
fn local_names_stay_inside_the_files_directory() {
    use super::check_local_name;
    for ok in ["motd", "etc/motd", "a/./b", "dir/file.txt"] {
        assert_eq!(check_local_name(ok), Ok(()), "{ok}");
    }
    for bad in ["", "/etc/passwd", "../secret", "a/../../b", "a\\..\\b"] {
        assert!(check_local_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn authorized_keys_can_come_from_local_files() {
    check(
        "variant: fcos\nversion: 1.4.0\npasswd:\n  users:\n    - name: core\n      ssh_authorized_keys: [ssh-ed25519 ZZZZ inline]\n      ssh_authorized_keys_local: [keys]\n",
        Ok(r#"{"ignition":{"version":"3.3.0"},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":["ssh-ed25519 ZZZZ inline","ssh-ed25519 AAAA one","ssh-ed25519 BBBB two"]}]}}"#),
    );
    check(
        "variant: fcos\nversion: 1.4.0\npasswd:\n  users:\n    - name: core\n      ssh_authorized_keys_local: [nope]\n",
        Err("passwd.users[0].ssh_authorized_keys_local: \"nope\": no such file"),
    );
}
