//! The `mfe render` command line recorded in the MFE workflows, and reading it back: `mfe
//! upgrade` re-renders with the options a repository was rendered with and a new pin.

use crate::{ActionRef, Error, MfeOptions, Result};

const FIELD: &str = "recorded `mfe render` command";

/// A word for a POSIX shell: bare when it holds only safe characters, single-quoted otherwise.
pub(crate) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/:=@%+,-".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Splits a line into words as a POSIX shell would for what [`shell_word`] writes: bare words,
/// single-quoted strings, and backslash escapes outside quotes.
fn shell_words(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(Error::invalid(FIELD, "an unterminated quote")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(Error::invalid(FIELD, "a trailing backslash")),
            },
            '"' | '$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                return Err(Error::invalid(
                    FIELD,
                    format!("`{c}` outside single quotes (not written by `mfe render`)"),
                ));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

impl MfeOptions {
    /// The `mfe render` command line that reproduces these options, all but the pin and the
    /// tool version (an upgrade changes those): written into the workflows' comments, read back
    /// by [`MfeOptions::from_render_command`].
    pub fn render_command(&self) -> String {
        // Options left at their defaults are not written (the defaults are `MfeOptions::new`'s).
        let default = MfeOptions::new("", "", "", self.action.clone());
        let mut args: Vec<String> = vec![
            "mfe render".into(),
            format!("--mfe {}", shell_word(&self.mfe)),
            format!("--gitops-repo {}", shell_word(&self.gitops_repo)),
            format!("--artifact-url {}", shell_word(&self.artifact_url)),
        ];
        if self.package_manager != default.package_manager {
            let pm = self.package_manager.as_str();
            args.push(format!("--package-manager {pm}"));
        }
        if self.node_version != default.node_version {
            let v = shell_word(&self.node_version);
            args.push(format!("--node-version {v}"));
        }
        if let Some(c) = &self.test_command {
            args.push(format!("--test-command {}", shell_word(c)));
        }
        if let Some(c) = &self.build_command {
            args.push(format!("--build-command {}", shell_word(c)));
        }
        if self.dist_dir != default.dist_dir {
            args.push(format!("--dist {}", shell_word(&self.dist_dir)));
        }
        if self.environments != default.environments {
            for e in &self.environments {
                args.push(format!("--environment {}", shell_word(e)));
            }
        }
        for k in &self.cache_invalidation_keys {
            args.push(format!("--cache-invalidation-key {}", shell_word(k)));
        }
        if self.default_branch != default.default_branch {
            let b = shell_word(&self.default_branch);
            args.push(format!("--default-branch {b}"));
        }
        if self.app {
            args.push("--app".into());
        }
        args.join(" ")
    }

    /// Reads a line written by [`MfeOptions::render_command`] back into options pinned to
    /// `action`, at this crate's tool version. Strict: a word that is not one of `mfe render`'s
    /// options with its value (or the flag `--app`), a required option missing, a single-valued
    /// option or `--app` repeated, and any value [`MfeOptions::validate`] refuses are errors.
    pub fn from_render_command(line: &str, action: ActionRef) -> Result<Self> {
        let words = shell_words(line.trim())?;
        let rest = match words.as_slice() {
            [mfe, render, rest @ ..] if mfe == "mfe" && render == "render" => rest,
            _ => return Err(Error::invalid(FIELD, "it does not start with `mfe render`")),
        };
        let (mut mfe, mut repo, mut url) = (None, None, None);
        let mut o = MfeOptions::new("", "", "", action);
        let (mut pm, mut node, mut dist, mut branch) = (None, None, None, None);
        let mut environments = Vec::new();
        let mut words = rest.iter();
        while let Some(flag) = words.next() {
            if flag == "--app" {
                if std::mem::replace(&mut o.app, true) {
                    return Err(Error::invalid(FIELD, "`--app` is repeated"));
                }
                continue;
            }
            let Some(value) = words.next() else {
                return Err(Error::invalid(FIELD, format!("`{flag}` has no value")));
            };
            let once = |slot: &mut Option<String>| {
                if slot.replace(value.clone()).is_some() {
                    return Err(Error::invalid(FIELD, format!("`{flag}` is repeated")));
                }
                Ok(())
            };
            match flag.as_str() {
                "--mfe" => once(&mut mfe)?,
                "--gitops-repo" => once(&mut repo)?,
                "--artifact-url" => once(&mut url)?,
                "--package-manager" => once(&mut pm)?,
                "--node-version" => once(&mut node)?,
                "--test-command" => once(&mut o.test_command)?,
                "--build-command" => once(&mut o.build_command)?,
                "--dist" => once(&mut dist)?,
                "--environment" => environments.push(value.clone()),
                "--cache-invalidation-key" => o.cache_invalidation_keys.push(value.clone()),
                "--default-branch" => once(&mut branch)?,
                other => {
                    return Err(Error::invalid(
                        FIELD,
                        format!("`{other}` is not an option of `mfe render`"),
                    ));
                }
            }
        }
        let required = |v: Option<String>, flag: &str| {
            v.ok_or_else(|| Error::invalid(FIELD, format!("`{flag}` is missing")))
        };
        o.mfe = required(mfe, "--mfe")?;
        o.gitops_repo = required(repo, "--gitops-repo")?;
        o.artifact_url = required(url, "--artifact-url")?;
        if let Some(pm) = pm {
            o.package_manager = pm.parse()?;
        }
        if !environments.is_empty() {
            o.environments = environments;
        }
        o.node_version = node.unwrap_or(o.node_version);
        o.dist_dir = dist.unwrap_or(o.dist_dir);
        o.default_branch = branch.unwrap_or(o.default_branch);
        o.validate()?;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PackageManager;

    fn pin() -> ActionRef {
        ActionRef::parse("mfe-gitops/mfe-gitops@1111111111111111111111111111111111111111").unwrap()
    }

    #[test]
    fn shell_words_are_quoted_when_needed_and_split_back() {
        assert_eq!(shell_word("acme/gitops"), "acme/gitops");
        assert_eq!(shell_word("npm run build"), "'npm run build'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("s3://b/{version}.tgz"), "'s3://b/{version}.tgz'");
        for s in [
            "a",
            "npm run x -- --y",
            "it's",
            "''",
            "a\\b",
            "#x",
            "{name}",
        ] {
            assert_eq!(shell_words(&shell_word(s)).unwrap(), [s], "{s}");
        }
        assert!(shell_words("'open").is_err());
        assert!(shell_words("a $(rm -rf /)").is_err());
    }

    #[test]
    fn every_option_round_trips() {
        let mut o = MfeOptions::new(
            "search",
            "acme-corp/platform.gitops",
            "https://artifactory.example.com/mfe/{name}-{version}.tgz",
            pin(),
        );
        o.package_manager = PackageManager::Pnpm;
        o.node_version = "22.11".into();
        o.test_command = Some("pnpm run test:ci -- --coverage 'quoted' it's".into());
        o.build_command = Some("pnpm run build:prod # not a comment".into());
        o.dist_dir = "build/client".into();
        o.environments = vec!["qa".into(), "eu.prod".into()];
        o.cache_invalidation_keys = vec!["/mfe/search/*".into(), "/mfe/search/x.json".into()];
        o.default_branch = "trunk".into();
        o.app = true;
        let line = o.render_command();
        assert!(line.ends_with(" --default-branch trunk --app"), "{line}");
        assert_eq!(MfeOptions::from_render_command(&line, pin()).unwrap(), o);
        let plain = MfeOptions::new("checkout", "acme/gitops", "s3://b/{version}.tgz", pin());
        let line = plain.render_command();
        assert_eq!(
            line,
            "mfe render --mfe checkout --gitops-repo acme/gitops --artifact-url 's3://b/{version}.tgz'"
        );
        assert_eq!(
            MfeOptions::from_render_command(&line, pin()).unwrap(),
            plain
        );
    }

    #[test]
    fn recorded_commands_are_read_strictly() {
        let ok = "mfe render --mfe checkout --gitops-repo acme/gitops --artifact-url 's3://b/{version}.tgz'";
        for (bad, why) in [
            ("mfe publish --mfe checkout", "mfe render"),
            (&*format!("{ok} --force x"), "--force"),
            (&*format!("{ok} --mfe other"), "repeated"),
            (&*format!("{ok} --dist"), "no value"),
            (&*format!("{ok} --app --dist"), "no value"),
            (&*format!("{ok} --app --app"), "repeated"),
            (&*format!("{ok} --app=true"), "--app=true"),
            (
                "mfe render --mfe checkout --gitops-repo acme/gitops",
                "--artifact-url",
            ),
            (&*format!("{ok} --package-manager bun"), "bun"),
            (&*format!("{ok} --dist ../etc"), "dist"),
            (
                &*format!("{ok} --test-command '${{{{ github.token }}}}'"),
                "expression",
            ),
        ] {
            let e = MfeOptions::from_render_command(bad, pin())
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // `--app` takes no value, wherever it stands.
        let app = "mfe render --app --mfe checkout --gitops-repo acme/gitops --artifact-url 's3://b/{version}.tgz' --dist build";
        let o = MfeOptions::from_render_command(app, pin()).unwrap();
        assert!(o.app);
        assert_eq!(o.dist_dir, "build");
        assert!(!MfeOptions::from_render_command(ok, pin()).unwrap().app);
    }
}
