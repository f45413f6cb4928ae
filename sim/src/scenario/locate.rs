//! Where a key sits in a scenario's TOML text, so a value refused after parsing (a check across
//! keys, a host that does not exist in this world) is reported at its line like a syntax error.

use toml::de::{DeTable, DeValue};

/// One step of a key's path: a table key, or the index into an array of tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The path of a key, like `jobs` / `parallelism.default` or `faults` / 2 / `target`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub Vec<Step>);

impl KeyPath {
    /// The path of `key` in the table `section` (`"run"`, `"traffic.late_clicks"`).
    pub fn at(section: &str, key: &str) -> Self {
        let mut steps: Vec<Step> = section
            .split('.')
            .filter(|s| !s.is_empty())
            .map(|s| Step::Key(s.to_string()))
            .collect();
        steps.push(Step::Key(key.to_string()));
        Self(steps)
    }

    /// The path of `key` in entry `index` of the array of tables `array` (`faults`).
    pub fn in_array(array: &str, index: usize, key: &str) -> Self {
        Self(vec![
            Step::Key(array.to_string()),
            Step::Index(index),
            Step::Key(key.to_string()),
        ])
    }
}

/// The 1-based line of the deepest part of `path` that `text` spells out (the key itself, or
/// its table when the key was left to its default); `None` when the text does not parse.
pub fn line_of(text: &str, path: &KeyPath) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut table: &DeTable = document.get_ref();
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    let mut offset = None;
    for step in &path.0 {
        match (step, array) {
            (Step::Index(index), Some(items)) => {
                let item = items.get(*index)?;
                offset = Some(item.span().start);
                match item.get_ref() {
                    DeValue::Table(inner) => table = inner,
                    _ => break,
                }
                array = None;
            }
            (Step::Key(key), None) => {
                let Some((name, value)) = table.iter().find(|(name, _)| name.get_ref() == key)
                else {
                    break;
                };
                offset = Some(name.span().start);
                match value.get_ref() {
                    DeValue::Table(inner) => table = inner,
                    DeValue::Array(items) => array = Some(items.as_ref()),
                    _ => break,
                }
            }
            _ => break,
        }
    }
    offset.map(|at| text[..at.min(text.len())].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"t\"\n[run]\nchaos = \"10s\"\n\n[jobs]\n\"parallelism.default\" = 4\n[[faults]]\nat = \"1s\"\n[[faults]]\nat = \"2s\"\ntarget = \"tt\"\n";

    #[test]
    fn keys_sections_and_array_entries_have_lines() {
        assert_eq!(line_of(TEXT, &KeyPath::at("run", "chaos")), Some(3));
        assert_eq!(
            line_of(TEXT, &KeyPath::at("jobs", "parallelism.default")),
            Some(6)
        );
        assert_eq!(
            line_of(TEXT, &KeyPath::in_array("faults", 1, "target")),
            Some(11)
        );
        // A key left to its default: its table's line; an entry's missing key: the entry's.
        assert_eq!(line_of(TEXT, &KeyPath::at("jobs", "idle_poll")), Some(5));
        assert_eq!(
            line_of(TEXT, &KeyPath::in_array("faults", 0, "target")),
            Some(7)
        );
        assert_eq!(line_of("[run", &KeyPath::at("run", "chaos")), None);
    }
}
