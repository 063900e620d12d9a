//! Building a [`RunSpec`] from defaults, a config file and `--set` overrides.

use anyhow::{Context, Result, bail};
use optlab_core::{MethodInfo, RunSpec};
use std::path::Path;

/// Parse `key=value`; the value is read as a TOML value (number, bool, string, array), falling
/// back to a bare string.
pub fn parse_set(s: &str) -> Result<(String, toml::Value)> {
    let Some((k, v)) = s.split_once('=') else {
        bail!("--set expects key=value, got `{s}`");
    };
    let k = k.trim();
    if k.is_empty() {
        bail!("--set expects key=value, got `{s}` (empty key)");
    }
    let v = v.trim();
    let value = match toml::from_str::<toml::Table>(&format!("v = {v}")) {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(v.to_string())),
        Err(_) => toml::Value::String(v.to_string()),
    };
    Ok((k.to_string(), value))
}

/// Apply one override. `problem.x` goes to the problem table, `seed`/`threads`/
/// `checkpoint_every` to the spec, anything else (optionally prefixed `config.`) to the
/// method config.
pub fn apply_set(spec: &mut RunSpec, key: &str, value: toml::Value) -> Result<()> {
    let as_u64 = |v: &toml::Value| -> Result<u64> {
        v.as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .with_context(|| format!("`{key}` must be a non-negative integer, got {v}"))
    };
    match key {
        "seed" => spec.seed = as_u64(&value)?,
        "threads" => {
            spec.threads = usize::try_from(as_u64(&value)?).context("threads too large")?
        }
        "checkpoint_every" => spec.checkpoint_every = as_u64(&value)?,
        _ => {
            if let Some(k) = key.strip_prefix("problem.") {
                spec.problem.insert(k.to_string(), value);
            } else {
                let k = key.strip_prefix("config.").unwrap_or(key);
                set_dotted(&mut spec.config, k, value);
            }
        }
    }
    Ok(())
}

fn set_dotted(t: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        None => {
            t.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = t
                .entry(head.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set_dotted(inner, rest, value);
            }
        }
    }
}

/// Overlay `src` onto `dst` recursively.
fn merge(dst: &mut toml::Table, src: &toml::Table) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(toml::Value::Table(d)), toml::Value::Table(s)) => merge(d, s),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Options from the command line.
#[derive(Debug, Default)]
pub struct SpecArgs<'a> {
    /// `--problem`.
    pub problem: Option<&'a str>,
    /// `--config`.
    pub config: Option<&'a Path>,
    /// `--set`.
    pub sets: &'a [String],
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--threads`.
    pub threads: Option<usize>,
}

/// Resolve the full spec for `info`.
pub fn resolve(info: &MethodInfo, args: &SpecArgs<'_>) -> Result<RunSpec> {
    let mut spec = RunSpec {
        method: info.name.to_string(),
        seed: 0,
        threads: 1,
        checkpoint_every: 0,
        config: (info.default_config)()?,
        problem: toml::Table::new(),
    };
    let mut problem_name = info.problems.first().copied().unwrap_or("").to_string();
    let mut file_problem = toml::Table::new();
    if let Some(path) = args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let file: toml::Table = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .unwrap_or(0);
            anyhow::anyhow!("{}: line {line}: {}", path.display(), e.message())
        })?;
        for (k, v) in &file {
            match (k.as_str(), v) {
                ("method", toml::Value::String(m)) if m == info.name => {}
                ("method", other) => bail!(
                    "{}: `method` is {other}, but the command runs `{}`",
                    path.display(),
                    info.name
                ),
                ("config", toml::Value::Table(t)) => merge(&mut spec.config, t),
                ("problem", toml::Value::Table(t)) => file_problem = t.clone(),
                ("seed" | "threads" | "checkpoint_every", v) => apply_set(&mut spec, k, v.clone())?,
                (other, _) => bail!(
                    "{}: unknown key `{other}` (expected method, seed, threads, checkpoint_every, [config], [problem])",
                    path.display()
                ),
            }
        }
        if let Some(toml::Value::String(n)) = file_problem.get("name") {
            problem_name = n.clone();
        }
    }
    if let Some(p) = args.problem {
        problem_name = p.to_string();
    }
    if !info.problems.contains(&problem_name.as_str()) {
        bail!(
            "method `{}` cannot run on problem `{problem_name}` (it runs on: {})",
            info.name,
            info.problems.join(", ")
        );
    }
    spec.problem = (info.default_problem)(&problem_name)?;
    if file_problem.get("name").and_then(|v| v.as_str()) == Some(problem_name.as_str()) {
        merge(&mut spec.problem, &file_problem);
    }
    if let Some(s) = args.seed {
        spec.seed = s;
    }
    if let Some(t) = args.threads {
        spec.threads = t;
    }
    for s in args.sets {
        let (k, v) = parse_set(s)?;
        apply_set(&mut spec, &k, v)?;
    }
    if spec.threads == 0 {
        bail!("invalid value for `threads`: must be >= 1");
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_toml_values() {
        assert_eq!(parse_set("lr=1e-3").unwrap().1, toml::Value::Float(1e-3));
        assert_eq!(
            parse_set("hessian=exact").unwrap().1,
            toml::Value::String("exact".into())
        );
        assert_eq!(
            parse_set("n = 3").unwrap(),
            ("n".into(), toml::Value::Integer(3))
        );
        assert!(parse_set("novalue").is_err());
        assert!(parse_set("=3").is_err());
    }

    #[test]
    fn dotted_keys_nest() {
        let mut t = toml::Table::new();
        set_dotted(
            &mut t,
            "schedule.kind",
            toml::Value::String("cosine".into()),
        );
        assert_eq!(t["schedule"]["kind"].as_str(), Some("cosine"));
    }
}
