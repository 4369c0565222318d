//! Config data types: the superset of spec 3.0.0 to 3.4.0 (which version allows which field is
//! checked in `version`). Serialization omits everything unset: no `null`s, no empty lists.

use serde::{Deserialize, Deserializer, Serialize};

use crate::nullable::{struct_or_null, Unset};

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

/// Declares a struct whose fields are all optional on the wire.
macro_rules! section {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(default, deserialize_with = "Unset::deserialize_nullable", skip_serializing_if = "is_default")]
                pub $field: $ty,
            )*
        }

        impl Unset for $name {
            fn deserialize_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct_or_null(d)
            }
        }
    };
}

section!(
    /// A whole Ignition config.
    Config {
        ignition: Ignition,
        kernel_arguments: KernelArguments,
        passwd: Passwd,
        storage: Storage,
        systemd: Systemd,
    }
);

section!(
    /// The `ignition` section: version, config merging, proxy, TLS, timeouts.
    Ignition {
        version: String,
        config: IgnitionConfig,
        proxy: Proxy,
        security: Security,
        timeouts: Timeouts,
    }
);

section!(IgnitionConfig { merge: Vec<Resource>, replace: Resource });
section!(Proxy { http_proxy: Option<String>, https_proxy: Option<String>, no_proxy: Vec<String> });
section!(Security { tls: Tls });
section!(Tls { certificate_authorities: Vec<Resource> });
section!(Timeouts { http_response_headers: Option<i64>, http_total: Option<i64> });
section!(KernelArguments { should_exist: Vec<String>, should_not_exist: Vec<String> });

section!(
    /// Where content comes from (a URL, often `data:`), how it is compressed and verified.
    Resource {
        compression: Option<String>,
        http_headers: Vec<HttpHeader>,
        source: Option<String>,
        verification: Verification,
    }
);
section!(HttpHeader { name: String, value: Option<String> });
section!(Verification { hash: Option<String> });

section!(
    Storage {
        directories: Vec<Directory>,
        disks: Vec<Disk>,
        files: Vec<File>,
        filesystems: Vec<Filesystem>,
        links: Vec<Link>,
        luks: Vec<Luks>,
        raid: Vec<Raid>,
    }
);

section!(
    /// Owner of a node, by id or by name (not both).
    NodeUser { id: Option<i64>, name: Option<String> }
);
section!(NodeGroup { id: Option<i64>, name: Option<String> });

section!(
    /// A regular file. `mode` is the decimal form of the octal permissions (420 = 0644).
    File {
        path: String,
        overwrite: Option<bool>,
        user: NodeUser,
        group: NodeGroup,
        mode: Option<i64>,
        contents: Resource,
        append: Vec<Resource>,
    }
);
section!(Directory {
    path: String,
    overwrite: Option<bool>,
    user: NodeUser,
    group: NodeGroup,
    mode: Option<i64>,
});
section!(Link {
    path: String,
    overwrite: Option<bool>,
    user: NodeUser,
    group: NodeGroup,
    target: Option<String>,
    hard: Option<bool>,
});

section!(Disk { device: String, partitions: Vec<Partition>, wipe_table: Option<bool> });
section!(Partition {
    guid: Option<String>,
    label: Option<String>,
    number: Option<i64>,
    resize: Option<bool>,
    should_exist: Option<bool>,
    #[serde(rename = "sizeMiB")]
    size_mib: Option<i64>,
    #[serde(rename = "startMiB")]
    start_mib: Option<i64>,
    type_guid: Option<String>,
    wipe_partition_entry: Option<bool>,
});
section!(Filesystem {
    device: String,
    format: Option<String>,
    label: Option<String>,
    mount_options: Vec<String>,
    options: Vec<String>,
    path: Option<String>,
    uuid: Option<String>,
    wipe_filesystem: Option<bool>,
});
section!(Raid {
    name: String,
    level: Option<String>,
    devices: Vec<String>,
    spares: Option<i64>,
    options: Vec<String>,
});
section!(Luks {
    name: String,
    device: Option<String>,
    key_file: Resource,
    label: Option<String>,
    uuid: Option<String>,
    wipe_volume: Option<bool>,
    options: Vec<String>,
    clevis: Clevis,
    discard: Option<bool>,
    open_options: Vec<String>,
});
section!(Clevis {
    custom: ClevisCustom,
    tang: Vec<Tang>,
    threshold: Option<i64>,
    tpm2: Option<bool>,
});
section!(ClevisCustom { config: Option<String>, needs_network: Option<bool>, pin: Option<String> });
section!(Tang { url: String, thumbprint: Option<String>, advertisement: Option<String> });

section!(Systemd { units: Vec<Unit> });
section!(
    /// A systemd unit; `name` must carry a unit suffix, dropins are `*.conf`.
    Unit {
        name: String,
        enabled: Option<bool>,
        mask: Option<bool>,
        contents: Option<String>,
        dropins: Vec<Dropin>,
    }
);
section!(Dropin { name: String, contents: Option<String> });

section!(Passwd { users: Vec<PasswdUser>, groups: Vec<PasswdGroup> });
section!(PasswdUser {
    name: String,
    password_hash: Option<String>,
    ssh_authorized_keys: Vec<String>,
    uid: Option<i64>,
    gecos: Option<String>,
    home_dir: Option<String>,
    no_create_home: Option<bool>,
    primary_group: Option<String>,
    groups: Vec<String>,
    no_user_group: Option<bool>,
    no_log_init: Option<bool>,
    shell: Option<String>,
    system: Option<bool>,
    should_exist: Option<bool>,
});
section!(PasswdGroup {
    name: String,
    gid: Option<i64>,
    password_hash: Option<String>,
    system: Option<bool>,
    should_exist: Option<bool>,
});

impl Resource {
    /// The sources this resource reads from (none, or the one `source`).
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.source.as_deref().into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_are_omitted_and_nulls_read_as_unset() {
        let c: Config = serde_json::from_str(
            r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a","mode":null,"user":null}],"disks":null}}"#,
        )
        .expect("parses");
        assert_eq!(c.storage.files[0].mode, None);
        let c2: Config = serde_json::from_str(
            r#"{"passwd":{"users":[null,{"name":"a","sshAuthorizedKeys":[null,"k"]}]}}"#,
        )
        .expect("null list elements read as unset");
        assert_eq!(c2.passwd.users[0], PasswdUser::default());
        assert_eq!(c2.passwd.users[1].ssh_authorized_keys, ["", "k"]);
        let out = serde_json::to_string(&c).expect("serializes");
        assert_eq!(
            out,
            r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/a"}]}}"#
        );
    }

    #[test]
    fn mib_fields_keep_their_spelling() {
        let p = Partition {
            size_mib: Some(1),
            start_mib: Some(2),
            type_guid: Some("x".into()),
            ..Default::default()
        };
        let out = serde_json::to_string(&p).expect("serializes");
        assert_eq!(out, r#"{"sizeMiB":1,"startMiB":2,"typeGuid":"x"}"#);
    }
}
