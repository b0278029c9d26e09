//! TOML configuration files (traffic specs, sweep grids, scenarios) checked
//! with every problem listed, each with its line, column and key path.
//!
//! Takes the text of a file and a serde type; gives the parsed value, or
//! the [`ConfigIssue`]s: a syntax error, every unknown key (found with
//! `serde_ignored` and placed with toml's spanned tree), and whatever the
//! caller's own validation adds through [`Issues::at`].

use serde::de::DeserializeOwned;
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// One problem of a configuration file: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line and column (0 when the problem has no place in the text).
    pub line: usize,
    pub column: usize,
    /// Key path, e.g. `campaign[0].step[1].rate`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: `{}`: {}",
            self.line, self.column, self.key, self.message
        )
    }
}

/// Collects issues against the source text.
#[derive(Debug)]
pub struct Issues<'a> {
    text: &'a str,
    list: Vec<ConfigIssue>,
}

impl<'a> Issues<'a> {
    pub fn new(text: &'a str) -> Issues<'a> {
        Issues {
            text,
            list: Vec::new(),
        }
    }

    /// Record a problem at the byte range `span` of the text.
    pub fn at(&mut self, span: Range<usize>, key: impl Into<String>, msg: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.list.push(ConfigIssue {
            line,
            column,
            key: key.into(),
            message: msg.into(),
        });
    }

    /// The value named by `value` among `choices` (name, value); otherwise
    /// an issue at it, "unknown `what` `text`: expected" and every name.
    pub fn choose<T: Copy>(
        &mut self,
        value: &Spanned<String>,
        key: &str,
        what: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let text = value.get_ref();
        let found = choices.iter().find(|(n, _)| n == text).map(|(_, v)| *v);
        if found.is_none() {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            self.at(
                value.span(),
                key,
                format!("unknown {what} `{text}`: expected {}", names.join(", ")),
            );
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The issues in the order they appear in the file.
    pub fn into_sorted(mut self) -> Vec<ConfigIssue> {
        self.list.sort_by_key(|i| (i.line, i.column));
        self.list
    }
}

/// Parse `issues`' text as a `T`. A syntax or type error gives `None` (with
/// its issue); unknown keys are issues with `unknown_hint` as the message
/// but still give the value, so that validation can report more.
pub fn parse_toml<T: DeserializeOwned>(issues: &mut Issues<'_>, unknown_hint: &str) -> Option<T> {
    let tree = match toml::de::DeTable::parse(issues.text) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            issues.at(span, "", format!("TOML syntax: {}", e.message()));
            return None;
        }
    };
    let mut unknown: Vec<Vec<PathPart>> = Vec::new();
    let de = toml::de::Deserializer::from(tree.clone());
    let raw: T = match serde_ignored::deserialize(de, |p| unknown.push(path_parts(&p))) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            issues.at(span, "", e.message().to_string());
            return None;
        }
    };
    for parts in &unknown {
        let (span, key) = locate(&tree, parts);
        issues.at(span, key, unknown_hint);
    }
    Some(raw)
}

/// "`path`: N problems in the `what`:" and one `path:line:col: `key`: message`
/// line per issue.
pub fn format_issues(path: &str, what: &str, issues: &[ConfigIssue]) -> String {
    let mut s = format!(
        "{path}: {} problem{} in the {what}:",
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    );
    for i in issues {
        s.push_str(&format!("\n  {path}:{}:{}: ", i.line, i.column));
        if !i.key.is_empty() {
            s.push_str(&format!("`{}`: ", i.key));
        }
        s.push_str(&i.message);
    }
    s
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = text[col_start..offset].chars().count() + 1;
    (line, column)
}

#[derive(Debug, Clone)]
enum PathPart {
    Key(String),
    Index(usize),
}

fn path_parts(p: &serde_ignored::Path) -> Vec<PathPart> {
    let mut out = Vec::new();
    let mut cur = p;
    loop {
        match cur {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                out.push(PathPart::Index(*index));
                cur = parent;
            }
            serde_ignored::Path::Map { parent, key } => {
                // `toml::Spanned` wraps values in a map of private keys.
                if !key.starts_with("$__serde_spanned_private") {
                    out.push(PathPart::Key(key.clone()));
                }
                cur = parent;
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => cur = parent,
        }
    }
    out.reverse();
    out
}

/// The span of the key at `parts` (the deepest part that exists) and its
/// printable path.
fn locate(tree: &Spanned<toml::de::DeTable<'_>>, parts: &[PathPart]) -> (Range<usize>, String) {
    use toml::de::DeValue;
    let mut key = String::new();
    let mut span = tree.span();
    let mut table: Option<&toml::de::DeTable<'_>> = Some(tree.get_ref());
    let mut array: Option<&toml::de::DeArray<'_>> = None;
    for part in parts {
        let next: Option<&Spanned<DeValue<'_>>> = match part {
            PathPart::Key(k) => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
                let found = table.and_then(|t| t.iter().find(|(name, _)| name.get_ref() == k));
                if let Some((name, _)) = found {
                    span = name.span();
                }
                found.map(|(_, v)| v)
            }
            PathPart::Index(i) => {
                key.push_str(&format!("[{i}]"));
                array.and_then(|a| a.get(*i))
            }
        };
        let Some(v) = next else { break };
        if matches!(part, PathPart::Index(_)) {
            span = v.span();
        }
        table = None;
        array = None;
        match v.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    (span, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct T {
        a: Option<i64>,
        #[serde(default)]
        t: Vec<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        b: Option<String>,
    }

    #[test]
    fn every_unknown_key_is_placed_and_named() {
        let text = "a = 1\nzz = 2\n[[t]]\nb = \"x\"\n[[t]]\nc = 3\n";
        let mut i = Issues::new(text);
        let v: Option<T> = parse_toml(&mut i, "unknown");
        assert!(v.is_some());
        let list = i.into_sorted();
        assert_eq!(list.len(), 2, "{list:?}");
        assert_eq!((list[0].line, list[0].key.as_str()), (2, "zz"));
        assert_eq!((list[1].line, list[1].key.as_str()), (6, "t[1].c"));
    }

    #[test]
    fn syntax_and_type_errors_have_a_line() {
        let mut i = Issues::new("a = 1\nb = [\n");
        assert!(parse_toml::<T>(&mut i, "").is_none());
        assert_eq!(i.into_sorted()[0].line, 2);
        let mut i = Issues::new("\na = \"one\"\n");
        assert!(parse_toml::<T>(&mut i, "").is_none());
        let list = i.into_sorted();
        assert_eq!(list[0].line, 2, "{list:?}");
    }
}
