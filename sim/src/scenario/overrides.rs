//! `--set KEY=VALUE`: one scenario option overridden from the command line. The override edits
//! the scenario's TOML text (the option's value replaced in place, or the option added to its
//! table), so it is read and checked exactly like the file; each line of the edited text
//! remembers whether it came from the file or from an override, so an error names its source.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use warehouse::env::CostOperator;

/// The scenario's tables that hold options (besides `cost.<operator>`): `section` in
/// `--set section.option=value`.
const SECTIONS: [&str; 15] = [
    "run",
    "traffic",
    "traffic.late_clicks",
    "traffic.conversion_delay",
    "traffic.stale_resends",
    "tt",
    "dwd",
    "dws",
    "jobs",
    "jobs.compactor",
    "serving",
    "sla",
    "storage",
    "pipeline",
    "cost",
];

/// Arrays of tables: their entries have no name to address them by.
const ARRAYS_OF_TABLES: [&str; 3] = ["faults", "operations", "traffic.spikes"];

/// One `--set KEY=VALUE`: `key` as given (`jobs.execution.checkpointing.interval`), `value` as
/// TOML value text (`"1min"`, `64`, `true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub key: String,
    pub value: String,
}

impl Override {
    /// Reads `KEY=VALUE`. A VALUE that is not a TOML value (`1min`, `hot`, `64 kb`) is taken as
    /// a string; a number, a boolean, a quoted string or an array stays as it is.
    pub fn parse(text: &str) -> Result<Self, String> {
        let refuse = |why: String| Err(format!("--set {text}: {why}"));
        let Some((key, value)) = text.split_once('=') else {
            return refuse("expected KEY=VALUE, like dwd.bucket=64".into());
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return refuse(
                "the KEY before `=` is empty; write section.option=VALUE, like dwd.bucket=64"
                    .into(),
            );
        }
        if let Some(bad) = key
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return refuse(format!(
                "`{bad}` cannot appear in KEY `{key}`; KEY is section.option as the scenario file spells it (letters, digits, `_`, `-`, `.`), like jobs.execution.checkpointing.interval"
            ));
        }
        if key.split('.').any(str::is_empty) {
            return refuse(format!(
                "KEY `{key}` has an empty part between dots; write section.option, like dwd.bucket"
            ));
        }
        if !key.contains('.') {
            return refuse(format!(
                "KEY `{key}` names no option of a section; write section.option, like dwd.bucket=64"
            ));
        }
        if value.is_empty() {
            return refuse(
                "the VALUE after `=` is empty; give a value (an empty string is \"\")".into(),
            );
        }
        if value.contains(['\n', '\r']) {
            return refuse("the VALUE must fit on one line".into());
        }
        let value = if DeValue::parse(value).is_ok() {
            value.to_string()
        } else {
            quote(value)
        };
        Ok(Self {
            key: key.to_string(),
            value,
        })
    }
}

/// `KEY=VALUE` as a user would type it: a string that needs no quotes is shown without them,
/// and parsing the text gives this override back.
impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare = DeValue::parse(&self.value)
            .ok()
            .and_then(|value| value.get_ref().as_str().map(str::to_string))
            .filter(|s| s == s.trim() && !s.is_empty() && DeValue::parse(s).is_err());
        write!(f, "{}={}", self.key, bare.as_deref().unwrap_or(&self.value))
    }
}

/// The overrides as command-line flags, quoted for a POSIX shell where needed:
/// `--set dwd.bucket=8 --set 'traffic.x=a b'` (empty for none).
pub fn flags(overrides: &[Override]) -> String {
    overrides
        .iter()
        .map(|o| format!("--set {}", shell_word(&o.to_string())))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.,:/=+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A TOML basic string holding `text`.
fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c != '\t' && c.is_control() => {
                quoted.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Where a line of the edited text came from: line `n` (1-based) of the file, or override `i`
/// (0-based, in command-line order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOrigin {
    Original(usize),
    Override(usize),
}

/// The scenario text with `overrides` applied in order, and the origin of each of its lines
/// (split at `\n`). Refuses an override of an unknown section, of an array of tables, and the
/// same key twice.
pub fn apply(text: &str, overrides: &[Override]) -> Result<(String, Vec<LineOrigin>), String> {
    let mut edited = Edited::new(text);
    for (index, item) in overrides.iter().enumerate() {
        let refuse = |why: String| format!("--set {item}: {why}");
        if let Some(first) = overrides[..index].iter().find(|o| o.key == item.key) {
            return Err(refuse(format!(
                "`{}` is set twice on the command line (--set {first} and --set {item}); keep one",
                item.key
            )));
        }
        let target = Target::of(&item.key).map_err(refuse)?;
        edited.set(&target, &item.value, index).map_err(refuse)?;
    }
    Ok((edited.lines.join("\n"), edited.origins))
}

/// An override's key split into the table it sits in and the option's name within it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    table: Vec<String>,
    option: String,
}

fn sections() -> Vec<String> {
    SECTIONS
        .iter()
        .map(|s| s.to_string())
        .chain(
            CostOperator::ALL
                .iter()
                .map(|op| format!("cost.{}", op.name())),
        )
        .collect()
}

fn operators() -> String {
    CostOperator::ALL
        .iter()
        .map(|op| op.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Target {
    /// The longest known section that `key` starts with is the table; the rest, dots and all,
    /// is the option (`jobs` / `execution.checkpointing.interval`).
    fn of(key: &str) -> Result<Self, String> {
        let within = |table: &str| key == table || key.starts_with(&format!("{table}."));
        if let Some(array) = ARRAYS_OF_TABLES.iter().find(|array| within(array)) {
            return Err(format!(
                "[[{array}]] is an array of tables: its entries cannot be set with --set; edit the scenario file"
            ));
        }
        // `cost.OPERATOR.FIGURE`: the operator must be one of the cost table's.
        if let Some(rest) = key.strip_prefix("cost.")
            && let Some((operator, _)) = rest.split_once('.')
            && CostOperator::parse(operator).is_none()
        {
            return Err(format!(
                "`{key}` names no operator of [cost]; write cost.OPERATOR.per_record_ns or cost.OPERATOR.per_byte_ns with OPERATOR one of: {}, or cost.profile / cost.usd_per_cu_hour",
                operators()
            ));
        }
        let sections = sections();
        if sections.iter().any(|s| s == key) {
            return Err(format!(
                "`{key}` is a section, not an option; set one of its options: --set {key}.OPTION=VALUE"
            ));
        }
        let Some(section) = sections
            .iter()
            .filter(|s| key.starts_with(&format!("{s}.")))
            .max_by_key(|s| s.len())
        else {
            if within("cost") {
                return Err(format!(
                    "`{key}` names no operator of [cost]; write cost.OPERATOR.per_record_ns or cost.OPERATOR.per_byte_ns with OPERATOR one of: {}",
                    operators()
                ));
            }
            return Err(format!(
                "`{key}` names no section of a scenario; KEY is section.option with section one of: {}, cost.OPERATOR (OPERATOR one of: {})",
                SECTIONS.join(", "),
                operators()
            ));
        };
        Ok(Self {
            table: section.split('.').map(str::to_string).collect(),
            option: key[section.len() + 1..].to_string(),
        })
    }
}

/// A key as TOML spells it: bare when it can be, else quoted (`"parallelism.default"`).
fn key_text(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        key.to_string()
    } else {
        quote(key)
    }
}

/// A dotted key path: `late_clicks.share`, `"parallelism.default"`.
fn path_text<'a>(segments: impl IntoIterator<Item = &'a str>) -> String {
    segments
        .into_iter()
        .map(key_text)
        .collect::<Vec<_>>()
        .join(".")
}

/// One change to the text.
#[derive(Debug)]
enum Edit {
    /// Replace these bytes (a value, or an empty range in an inline table) with one line's text.
    Replace { range: Range<usize>, with: String },
    /// Insert a line after line `after` (0-based), or first when `None`.
    InsertLine {
        after: Option<usize>,
        content: String,
    },
    /// Append a `[header]` with one option line at the end.
    AppendTable { header: String, content: String },
}

/// Where a missing option can be added: the table block of a `[header]` (or the top of the
/// file), inside an inline table, or nowhere but a new `[header]`.
enum Container<'t, 'i> {
    Block(&'t DeTable<'i>, Option<usize>),
    Inline(Range<usize>, &'t DeTable<'i>),
    NewHeader,
}

/// The scenario text as lines, each with its origin.
struct Edited {
    lines: Vec<String>,
    origins: Vec<LineOrigin>,
}

impl Edited {
    fn new(text: &str) -> Self {
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        let origins = (1..=lines.len()).map(LineOrigin::Original).collect();
        Self { lines, origins }
    }

    fn set(&mut self, target: &Target, value: &str, index: usize) -> Result<(), String> {
        let text = self.lines.join("\n");
        let edit = plan(&text, target, value)?;
        self.edit(&text, edit, index);
        Ok(())
    }

    fn edit(&mut self, text: &str, edit: Edit, index: usize) {
        let origin = LineOrigin::Override(index);
        match edit {
            Edit::Replace { range, with } => {
                let (first, start) = position(text, range.start);
                let (last, end) = position(text, range.end);
                let line = format!(
                    "{}{with}{}",
                    &self.lines[first][..start],
                    &self.lines[last][end..]
                );
                self.lines.splice(first..=last, [line]);
                self.origins.splice(first..=last, [origin]);
            }
            Edit::InsertLine { after, content } => {
                let at = after.map_or(0, |line| line + 1);
                self.lines.insert(at, content);
                self.origins.insert(at, origin);
            }
            Edit::AppendTable { header, content } => {
                // Keep the file's final line end, if it had one.
                let trailing = self.lines.last().is_some_and(String::is_empty);
                if trailing {
                    self.lines.pop();
                    self.origins.pop();
                }
                for line in [String::new(), header, content] {
                    self.lines.push(line);
                    self.origins.push(origin);
                }
                if trailing {
                    self.lines.push(String::new());
                    self.origins.push(origin);
                }
            }
        }
    }
}

/// The line (0-based) and byte column of `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count();
    let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1);
    (line, column)
}

fn line_of(text: &str, offset: usize) -> usize {
    position(text, offset).0
}

/// Whether the line holding `offset` is a `[table]` or `[[array]]` header.
fn on_header_line(text: &str, offset: usize) -> bool {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |at| at + 1);
    text[start..].trim_start().starts_with('[')
}

fn starts_with(text: &str, span: &Range<usize>, prefix: &str) -> bool {
    text.get(span.start..)
        .is_some_and(|s| s.starts_with(prefix))
}

/// The last line (0-based) of the keys written in `table`'s own block: its `key = value` lines
/// and dotted keys, not its sub-tables' headers.
fn last_key_line(text: &str, table: &DeTable<'_>) -> Option<usize> {
    table
        .iter()
        .filter(|(key, _)| !on_header_line(text, key.span().start))
        .filter_map(|(_, value)| {
            let span = value.span();
            match value.get_ref() {
                DeValue::Table(dotted) if !starts_with(text, &span, "{") => {
                    last_key_line(text, dotted)
                }
                _ => Some(line_of(text, span.end)),
            }
        })
        .max()
}

/// The edit that sets `target` to `value` in `text`: its value replaced where it stands, or the
/// option (and the tables it needs) added where its table is written.
fn plan(text: &str, target: &Target, value: &str) -> Result<Edit, String> {
    let document = DeTable::parse(text)
        .map_err(|e| format!("the scenario is not valid TOML: {}", e.message()))?;
    let mut table: &DeTable<'_> = document.get_ref();
    let mut container = Container::Block(table, None);
    // The tables between the container and the current one: dotted keys.
    let mut dotted: Vec<&str> = Vec::new();
    for (depth, segment) in target.table.iter().enumerate() {
        let Some((key, found)) = table.iter().find(|(key, _)| key.get_ref() == segment) else {
            let missing = &target.table[depth..];
            return add(text, container, &dotted, missing, target, value);
        };
        let span = found.span();
        let DeValue::Table(inner) = found.get_ref() else {
            return Err(format!(
                "the scenario file gives `{}` a {}, not a table; edit the file",
                target.table[..=depth].join("."),
                found.get_ref().type_str()
            ));
        };
        if starts_with(text, &span, "{") {
            container = Container::Inline(span, inner);
            dotted.clear();
        } else if matches!(container, Container::Inline(..))
            || !on_header_line(text, key.span().start)
        {
            dotted.push(segment);
        } else if starts_with(text, &span, "[") {
            container = Container::Block(inner, Some(line_of(text, span.start)));
            dotted.clear();
        } else {
            // Made by a sub-table's header (`[traffic.late_clicks]` without `[traffic]`).
            container = Container::NewHeader;
            dotted.clear();
        }
        table = inner;
    }
    let Some((_, existing)) = table
        .iter()
        .find(|(key, _)| key.get_ref() == &target.option)
    else {
        return add(text, container, &dotted, &[], target, value);
    };
    let span = existing.span();
    let name = format!("{}.{}", target.table.join("."), target.option);
    match existing.get_ref() {
        DeValue::Table(_) => Err(format!(
            "the scenario file has a table `{name}`, not an option; edit the file"
        )),
        DeValue::Array(_) if starts_with(text, &span, "[[") => Err(format!(
            "`{name}` is an array of tables: its entries cannot be set with --set; edit the scenario file"
        )),
        _ => Ok(Edit::Replace {
            range: span,
            with: value.to_string(),
        }),
    }
}

/// The edit that adds `target`, whose tables from `missing` on do not exist yet, in
/// `container` below its `dotted` tables: a line in the table's block (dotted where needed), an
/// entry of an inline table, or a new `[table]` at the end.
fn add(
    text: &str,
    container: Container<'_, '_>,
    dotted: &[&str],
    missing: &[String],
    target: &Target,
    value: &str,
) -> Result<Edit, String> {
    let path = dotted
        .iter()
        .copied()
        .chain(missing.iter().map(String::as_str))
        .chain([target.option.as_str()]);
    let entry = format!("{} = {value}", path_text(path));
    Ok(match container {
        Container::Inline(span, inline) => insert_inline(text, span, inline, &entry)?,
        Container::Block(block, header) if missing.is_empty() || !dotted.is_empty() => {
            Edit::InsertLine {
                after: last_key_line(text, block).or(header),
                content: entry,
            }
        }
        _ => Edit::AppendTable {
            header: format!("[{}]", path_text(target.table.iter().map(String::as_str))),
            content: format!("{} = {value}", key_text(&target.option)),
        },
    })
}

/// Adds `entry` at the end of the inline table at `span` (`{ a = 1 }` -> `{ a = 1, b = 2 }`).
fn insert_inline(
    text: &str,
    span: Range<usize>,
    inline: &DeTable<'_>,
    entry: &str,
) -> Result<Edit, String> {
    let inside = span.start + 1..span.end.saturating_sub(1);
    let body = text.get(inside.clone()).unwrap_or_default();
    if body.contains('#') {
        return Err(
            "its table is an inline table with comments in the scenario file; edit the file".into(),
        );
    }
    if inline.is_empty() {
        return Ok(Edit::Replace {
            range: inside,
            with: format!(" {entry} "),
        });
    }
    let end = inside.start + body.trim_end().len();
    let separator = if body.trim_end().ends_with(',') {
        " "
    } else {
        ", "
    };
    Ok(Edit::Replace {
        range: end..end,
        with: format!("{separator}{entry}"),
    })
}

#[cfg(test)]
#[path = "overrides_tests.rs"]
mod tests;
