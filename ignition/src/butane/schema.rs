//! The Butane YAML subset we accept, as serde types. Every struct denies unknown keys, so a
//! typo is an error with its line instead of a silently ignored setting.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Butane {
    pub(super) variant: String,
    pub(super) version: String,
    #[serde(default)]
    pub(super) storage: Storage,
    #[serde(default)]
    pub(super) systemd: Systemd,
    #[serde(default)]
    pub(super) passwd: Passwd,
    #[serde(default)]
    pub(super) kernel_arguments: KernelArguments,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct KernelArguments {
    #[serde(default)]
    pub(super) should_exist: Vec<String>,
    #[serde(default)]
    pub(super) should_not_exist: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Verification {
    pub(super) hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpHeader {
    pub(super) name: String,
    pub(super) value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Storage {
    #[serde(default)]
    pub(super) files: Vec<File>,
    #[serde(default)]
    pub(super) directories: Vec<Directory>,
    #[serde(default)]
    pub(super) links: Vec<Link>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Owner {
    pub(super) id: Option<i64>,
    pub(super) name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Mode {
    Int(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) path: String,
    pub(super) mode: Option<Mode>,
    pub(super) overwrite: Option<bool>,
    #[serde(default)]
    pub(super) user: Owner,
    #[serde(default)]
    pub(super) group: Owner,
    pub(super) contents: Option<Resource>,
    #[serde(default)]
    pub(super) append: Vec<Resource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Directory {
    pub(super) path: String,
    pub(super) mode: Option<Mode>,
    pub(super) overwrite: Option<bool>,
    #[serde(default)]
    pub(super) user: Owner,
    #[serde(default)]
    pub(super) group: Owner,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Link {
    pub(super) path: String,
    pub(super) target: Option<String>,
    pub(super) hard: Option<bool>,
    pub(super) overwrite: Option<bool>,
    #[serde(default)]
    pub(super) user: Owner,
    #[serde(default)]
    pub(super) group: Owner,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Resource {
    pub(super) source: Option<String>,
    pub(super) inline: Option<String>,
    pub(super) local: Option<String>,
    pub(super) compression: Option<String>,
    #[serde(default)]
    pub(super) verification: Verification,
    #[serde(default)]
    pub(super) http_headers: Vec<HttpHeader>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Systemd {
    #[serde(default)]
    pub(super) units: Vec<Unit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Unit {
    pub(super) name: String,
    pub(super) enabled: Option<bool>,
    pub(super) mask: Option<bool>,
    pub(super) contents: Option<String>,
    pub(super) contents_local: Option<String>,
    #[serde(default)]
    pub(super) dropins: Vec<Dropin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Dropin {
    pub(super) name: String,
    pub(super) contents: Option<String>,
    pub(super) contents_local: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Passwd {
    #[serde(default)]
    pub(super) users: Vec<User>,
    #[serde(default)]
    pub(super) groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct User {
    pub(super) name: String,
    pub(super) password_hash: Option<String>,
    #[serde(default)]
    pub(super) ssh_authorized_keys: Vec<String>,
    #[serde(default)]
    pub(super) ssh_authorized_keys_local: Vec<String>,
    pub(super) uid: Option<i64>,
    pub(super) gecos: Option<String>,
    pub(super) home_dir: Option<String>,
    pub(super) no_create_home: Option<bool>,
    pub(super) primary_group: Option<String>,
    #[serde(default)]
    pub(super) groups: Vec<String>,
    pub(super) no_user_group: Option<bool>,
    pub(super) no_log_init: Option<bool>,
    pub(super) shell: Option<String>,
    pub(super) system: Option<bool>,
    pub(super) should_exist: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Group {
    pub(super) name: String,
    pub(super) gid: Option<i64>,
    pub(super) password_hash: Option<String>,
    pub(super) system: Option<bool>,
    pub(super) should_exist: Option<bool>,
}
