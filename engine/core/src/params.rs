//! Workload parameters: their declarations, validation and defaults.
//!
//! Each workload declares its parameters as [`ParamDef`]s; [`resolve`] turns
//! the parameters a spec gives into a complete, validated set, so the harness
//! and the output always show every value a run used.

use serde::Serialize;
use serde_json::{Map, Value};

/// A complete set of parameter values, keyed by name (sorted).
pub type Values = Map<String, Value>;

/// The type and range of a parameter.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// An integer in `min..=max`.
    Int { min: u64, max: u64 },
    /// A byte count in `min..=max` (an integer; the harness accepts `64KiB`).
    Size { min: u64, max: u64 },
    /// A real number in `min..=max`.
    Float { min: f64, max: f64 },
    /// One of a fixed set of words.
    Choice { choices: &'static [&'static str] },
}

/// The value a parameter takes when the spec leaves it out.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    Int(u64),
    Float(f64),
    Word(&'static str),
    /// This many per thread of the pool (the seed's `tasks = 2 * threads`).
    PerThread(u64),
}

impl Serialize for DefaultValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            DefaultValue::Int(v) => s.serialize_u64(v),
            DefaultValue::Float(v) => s.serialize_f64(v),
            DefaultValue::Word(v) => s.serialize_str(v),
            DefaultValue::PerThread(k) => s.serialize_str(&format!("{k}*threads")),
        }
    }
}

/// One declared parameter of a workload.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamDef {
    pub name: &'static str,
    pub about: &'static str,
    #[serde(flatten)]
    pub kind: Kind,
    pub default: DefaultValue,
}

impl ParamDef {
    fn default_value(&self, threads: u64) -> Value {
        match self.default {
            DefaultValue::Int(v) => Value::from(v),
            DefaultValue::Float(v) => Value::from(v),
            DefaultValue::Word(v) => Value::from(v),
            DefaultValue::PerThread(k) => Value::from(k.saturating_mul(threads)),
        }
    }

    fn check(&self, value: &Value) -> Result<(), String> {
        let name = self.name;
        match self.kind {
            Kind::Int { min, max } | Kind::Size { min, max } => {
                let Some(v) = value.as_u64() else {
                    return Err(format!("{name} must be a non-negative integer, got {value}"));
                };
                if v < min || v > max {
                    return Err(format!("{name} must be in {min}..={max}, got {v}"));
                }
            }
            Kind::Float { min, max } => {
                let Some(v) = value.as_f64() else {
                    return Err(format!("{name} must be a number, got {value}"));
                };
                if !(min..=max).contains(&v) {
                    return Err(format!("{name} must be in [{min}, {max}], got {v}"));
                }
            }
            Kind::Choice { choices } => {
                if !value.as_str().is_some_and(|w| choices.contains(&w)) {
                    let list = choices.join(", ");
                    return Err(format!("{name} must be one of {list}, got {value}"));
                }
            }
        }
        Ok(())
    }
}

/// Validates `given` against `defs` and fills in defaults.
pub fn resolve(workload: &str, defs: &[ParamDef], given: &Values, threads: u64) -> Result<Values, String> {
    if let Some(unknown) = given.keys().find(|k| !defs.iter().any(|d| d.name == k.as_str())) {
        let known: Vec<&str> = defs.iter().map(|d| d.name).collect();
        return Err(format!("unknown parameter '{unknown}' for workload {workload} (known: {})", known.join(", ")));
    }
    let mut out = Values::new();
    for def in defs {
        let value = match given.get(def.name) {
            Some(v) => v.clone(),
            None => def.default_value(threads),
        };
        def.check(&value)?;
        out.insert(def.name.to_string(), value);
    }
    Ok(out)
}

/// Checks `low <= high` for each `(low, high)` pair of resolved parameters.
pub fn check_order(values: &Values, pairs: &[(&str, &str)]) -> Result<(), String> {
    for (low, high) in pairs {
        let (a, b) = (values[*low].as_f64().unwrap_or(0.0), values[*high].as_f64().unwrap_or(0.0));
        if a > b {
            return Err(format!("{low} ({}) must not exceed {high} ({})", values[*low], values[*high]));
        }
    }
    Ok(())
}

/// Typed reads of values that [`resolve`] has already checked.
pub trait Get {
    fn uint(&self, name: &str) -> u64;
    fn real(&self, name: &str) -> f64;
    fn word(&self, name: &str) -> &str;
}

impl Get for Values {
    fn uint(&self, name: &str) -> u64 {
        self[name].as_u64().expect("resolved integer parameter")
    }
    fn real(&self, name: &str) -> f64 {
        self[name].as_f64().expect("resolved real parameter")
    }
    fn word(&self, name: &str) -> &str {
        self[name].as_str().expect("resolved word parameter")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEFS: &[ParamDef] = &[
        ParamDef { name: "n", about: "", kind: Kind::Int { min: 1, max: 10 }, default: DefaultValue::Int(3) },
        ParamDef { name: "p", about: "", kind: Kind::Float { min: 0.0, max: 1.0 }, default: DefaultValue::Float(0.5) },
        ParamDef {
            name: "mode",
            about: "",
            kind: Kind::Choice { choices: &["a", "b"] },
            default: DefaultValue::Word("a"),
        },
        ParamDef { name: "tasks", about: "", kind: Kind::Int { min: 1, max: 99 }, default: DefaultValue::PerThread(2) },
    ];

    fn given(v: Value) -> Values {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fills_defaults_including_per_thread() {
        let out = resolve("w", DEFS, &given(json!({"n": 5})), 3).unwrap();
        assert_eq!(Value::Object(out), json!({"n": 5, "p": 0.5, "mode": "a", "tasks": 6}));
    }

    #[test]
    fn rejects_bad_values_with_the_parameter_named() {
        let cases = [
            (json!({"n": 0}), "n must be in 1..=10, got 0"),
            (json!({"n": 1.5}), "n must be a non-negative integer, got 1.5"),
            (json!({"p": 1.5}), "p must be in [0, 1], got 1.5"),
            (json!({"mode": "c"}), "mode must be one of a, b, got \"c\""),
            (json!({"zz": 1}), "unknown parameter 'zz' for workload w (known: n, p, mode, tasks)"),
        ];
        for (input, message) in cases {
            assert_eq!(resolve("w", DEFS, &given(input), 1).unwrap_err(), message);
        }
    }
}
