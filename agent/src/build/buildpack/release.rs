//! What a buildpack build says about running the app, as pure functions: the Procfile, the
//! `bin/release` YAML, the merged process table, the `/app/.release` file read by
//! `solum-start`, and the runtime image's environment.

use std::collections::BTreeMap;

use crate::build::BuildError;

/// The parts of `bin/release` output we use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub default_process_types: BTreeMap<String, String>,
    pub config_vars: BTreeMap<String, String>,
}

/// Parses a Procfile: `<type>: <command>` lines, `#` comments and blank lines skipped.
/// `file` names the file in errors.
pub fn parse_procfile(text: &str, file: &str) -> Result<BTreeMap<String, String>, BuildError> {
    let mut types = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            return Err(BuildError::Other(format!(
                "{file} line {}: expected `<type>: <command>`, got {line:?}",
                n + 1
            )));
        };
        let name = name.trim();
        if !is_process_type(name) {
            return Err(BuildError::Other(format!(
                "{file} line {}: process type {name:?} must be letters, digits, `-` or `_`",
                n + 1
            )));
        }
        let command = command.trim();
        if command.is_empty() {
            return Err(BuildError::Other(format!(
                "{file} line {}: process type {name} has no command",
                n + 1
            )));
        }
        types.insert(name.to_string(), command.to_string());
    }
    Ok(types)
}

fn is_process_type(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses `bin/release` output (YAML; empty means nothing). Scalars of any type become strings.
pub fn parse_release(text: &str, buildpack: &str) -> Result<Release, BuildError> {
    if text.trim().is_empty() {
        return Ok(Release::default());
    }
    let bad = |what: String| BuildError::Other(format!("bin/release of {buildpack}: {what}"));
    let doc: serde_norway::Value =
        solum_limits::yaml::from_str(text, &solum_limits::Budget::DEFAULT)
            .map_err(|e| bad(format!("invalid YAML: {e}")))?;
    if doc.is_null() {
        return Ok(Release::default());
    }
    let Some(map) = doc.as_mapping() else {
        return Err(bad("expected a mapping at the top".into()));
    };
    let table = |key: &str| -> Result<BTreeMap<String, String>, BuildError> {
        let mut out = BTreeMap::new();
        match map.get(key) {
            None | Some(serde_norway::Value::Null) => {}
            Some(serde_norway::Value::Mapping(m)) => {
                for (k, v) in m {
                    let (Some(k), Some(v)) = (scalar(k), scalar(v)) else {
                        return Err(bad(format!("{key}: entries must be `name: value` scalars")));
                    };
                    out.insert(k, v);
                }
            }
            Some(_) => return Err(bad(format!("{key} must be a mapping"))),
        }
        Ok(out)
    };
    let release = Release {
        default_process_types: table("default_process_types")?,
        config_vars: table("config_vars")?,
    };
    for (name, command) in &release.default_process_types {
        if !is_process_type(name) || command.contains('\n') || command.trim().is_empty() {
            return Err(bad(format!(
                "default process type {name:?}: bad name or multi-line/empty command"
            )));
        }
    }
    Ok(release)
}

fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The process table: every Procfile type (command as written), the release's default types
/// the Procfile does not override, and `web` = `run_cmd` when neither has `web`.
pub fn processes(
    procfile: &BTreeMap<String, String>,
    release: &Release,
    run_cmd: Option<&str>,
) -> Result<BTreeMap<String, String>, BuildError> {
    let mut all = release.default_process_types.clone();
    all.extend(procfile.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(cmd) = run_cmd.map(str::trim).filter(|c| !c.is_empty()) {
        all.entry("web".to_string())
            .or_insert_with(|| cmd.to_string());
    }
    if all.is_empty() {
        return Err(BuildError::Other(
            "the app has no Procfile, its buildpack gave no default process types, and the plan has no run_cmd: \
             nothing to run"
                .into(),
        ));
    }
    Ok(all)
}

/// `/app/.release`: the process types `solum-start` falls back to when the Procfile lacks one
/// (release defaults and `run_cmd`), in Procfile format.
pub fn release_file(all: &BTreeMap<String, String>, procfile: &BTreeMap<String, String>) -> String {
    let mut out = String::from(
        "# process types from the buildpack release and the plan's run_cmd (solum-start)\n",
    );
    for (name, command) in all.iter().filter(|(name, _)| !procfile.contains_key(*name)) {
        out.push_str(&format!("{name}: {command}\n"));
    }
    out
}

fn is_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The runtime image's environment (`KEY=value`): the release's config vars as defaults (the
/// plan's parameters override them when the app runs) and `HOME=/app`.
pub fn image_env(config_vars: &BTreeMap<String, String>) -> Result<Vec<String>, BuildError> {
    let mut env = Vec::new();
    for (k, v) in config_vars {
        if !is_env_name(k) || v.contains('\0') {
            return Err(BuildError::Other(format!(
                "bin/release config_vars: {k:?} is not a valid variable name or its value holds a NUL"
            )));
        }
        if k != "HOME" {
            env.push(format!("{k}={v}"));
        }
    }
    env.push("HOME=/app".to_string());
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn procfile_lines_comments_and_errors() {
        let p = parse_procfile(
            "# c\nweb: python3 app.py --port $PORT\r\n\n  worker:  celery -A x: y\n",
            "Procfile",
        )
        .unwrap();
        assert_eq!(
            p,
            map(&[
                ("web", "python3 app.py --port $PORT"),
                ("worker", "celery -A x: y")
            ])
        );
        let e = parse_procfile("web python3\n", "Procfile")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Procfile line 1"), "{e}");
        let e = parse_procfile("ok: x\nw b: y\n", "Procfile")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("w b"), "{e}");
        assert!(parse_procfile("web:   \n", "Procfile").is_err());
    }

    #[test]
    fn release_yaml_of_all_shapes() {
        let r = parse_release("---\ndefault_process_types:\n  web: \"python3 app.py\"\nconfig_vars:\n  N: 3\n  B: true\naddons: []\n", "py")
            .unwrap();
        assert_eq!(r.default_process_types, map(&[("web", "python3 app.py")]));
        assert_eq!(r.config_vars, map(&[("N", "3"), ("B", "true")]));
        assert_eq!(parse_release("", "x").unwrap(), Release::default());
        assert_eq!(parse_release("--- {}\n", "x").unwrap(), Release::default());
        assert_eq!(parse_release("---\n", "x").unwrap(), Release::default());
        let e = parse_release("- a\n", "py").unwrap_err().to_string();
        assert!(e.contains("bin/release of py"), "{e}");
        assert!(parse_release("default_process_types: [a]\n", "py").is_err());
        assert!(parse_release("default_process_types: {web: {a: 1}}\n", "py").is_err());
        assert!(parse_release(": : :\n", "py").is_err());
    }

    #[test]
    fn procfile_overrides_release_and_run_cmd_fills_web() {
        let release = Release {
            default_process_types: map(&[("web", "default web"), ("clock", "c")]),
            ..Default::default()
        };
        let procfile = map(&[("web", "mine")]);
        assert_eq!(
            processes(&procfile, &release, Some("run")).unwrap(),
            map(&[("web", "mine"), ("clock", "c")])
        );
        assert_eq!(
            processes(
                &map(&[("worker", "w")]),
                &Release::default(),
                Some("python3 app.py")
            )
            .unwrap(),
            map(&[("worker", "w"), ("web", "python3 app.py")])
        );
        let e = processes(&BTreeMap::new(), &Release::default(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no Procfile") && e.contains("run_cmd"), "{e}");
        assert!(processes(&BTreeMap::new(), &Release::default(), Some("  ")).is_err());
    }

    #[test]
    fn release_file_holds_only_what_the_procfile_lacks() {
        let all = map(&[("web", "mine"), ("clock", "c")]);
        let text = release_file(&all, &map(&[("web", "mine")]));
        assert!(
            text.ends_with("\nclock: c\n") && !text.contains("web"),
            "{text}"
        );
    }

    #[test]
    fn image_env_keeps_values_verbatim_and_refuses_bad_names() {
        let env = image_env(&map(&[("A", r#"x "$HOME" \n"#), ("HOME", "/elsewhere")])).unwrap();
        assert_eq!(env, [r#"A=x "$HOME" \n"#, "HOME=/app"]);
        assert!(image_env(&map(&[("A B", "x")])).is_err());
        assert!(image_env(&map(&[("1A", "x")]))
            .unwrap_err()
            .to_string()
            .contains("config_vars"));
    }
}
