//! GitHub's filter patterns (`branches`, `tags`, `paths`, deployment-branch policies).

use regex::Regex;

use super::{WorkflowError, err};

/// Compiles one GitHub filter pattern (without its leading `!`): `*` (not `/`), `**`, `?` and
/// `+` (quantifying the preceding character), `[...]` (alphanumerics and ranges), `\` escapes.
fn filter_regex(pattern: &str) -> Result<Regex, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^(?:");
    let mut quantifiable = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 2;
                quantifiable = false;
                continue;
            }
            '*' => {
                re.push_str("[^/]*");
                quantifiable = false;
            }
            '?' | '+' => {
                if !quantifiable {
                    return Err(format!(
                        "`{c}` in `{pattern}` follows nothing it can repeat"
                    ));
                }
                re.push(c);
                quantifiable = false;
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&x| x == ']')
                    .ok_or_else(|| format!("`[` without `]` in `{pattern}`"))?;
                let body: String = chars[i + 1..i + end].iter().collect();
                if body.is_empty() || !body.chars().all(|x| x.is_ascii_alphanumeric() || x == '-') {
                    return Err(format!(
                        "`[{body}]` in `{pattern}`: only letters, digits and ranges go in brackets"
                    ));
                }
                re.push('[');
                re.push_str(&body);
                re.push(']');
                i += end + 1;
                quantifiable = true;
                continue;
            }
            '\\' => {
                let next = chars
                    .get(i + 1)
                    .ok_or_else(|| format!("`{pattern}` ends with `\\`"))?;
                re.push_str(&regex::escape(&next.to_string()));
                i += 2;
                quantifiable = true;
                continue;
            }
            other => {
                re.push_str(&regex::escape(&other.to_string()));
                quantifiable = true;
            }
        }
        i += 1;
    }
    re.push_str(")$");
    Regex::new(&re).map_err(|e| format!("`{pattern}`: {e}"))
}

/// A list of filter patterns, in order (`!` patterns negate).
#[derive(Debug, Clone)]
pub(super) struct Filters(Vec<(bool, Regex)>);

impl Filters {
    pub(super) fn parse(
        patterns: &[String],
        positive_list: bool,
        what: &str,
    ) -> Result<Self, WorkflowError> {
        let mut out = Vec::new();
        for p in patterns {
            let (neg, body) = match p.strip_prefix('!') {
                Some(b) => (true, b),
                None => (false, p.as_str()),
            };
            let re = filter_regex(body).map_err(|e| err(format!("{what}: {e}")))?;
            out.push((neg, re));
        }
        if positive_list && !out.is_empty() && out.iter().all(|(neg, _)| *neg) {
            return Err(err(format!(
                "{what}: only negative (`!`) patterns; a `!` pattern needs a positive one before it"
            )));
        }
        Ok(Self(out))
    }

    /// GitHub's rule: the last pattern that matches decides.
    pub(super) fn matches(&self, name: &str) -> bool {
        let mut result = false;
        for (neg, re) in &self.0 {
            if re.is_match(name) {
                result = !neg;
            }
        }
        result
    }
}

/// Whether `name` matches the filter `patterns` (GitHub's pattern syntax, `!` negation, the last
/// matching pattern wins). An invalid pattern matches nothing.
pub fn filters_match(patterns: &[String], name: &str) -> bool {
    Filters::parse(patterns, false, "filter").is_ok_and(|f| f.matches(name))
}

/// Whether `name` matches one filter `pattern` (no `!` handling: a leading `!` is literal).
/// An invalid pattern matches nothing.
pub fn filter_matches(pattern: &str, name: &str) -> bool {
    filter_regex(pattern).is_ok_and(|re| re.is_match(name))
}
