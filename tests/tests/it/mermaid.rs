//! The Mermaid charts of `gitops metrics --format markdown` are valid Mermaid (issue 16): every
//! ```` ```mermaid ```` block the report holds for the repository `gitops demo` leaves (every
//! environment, one empty environment, one MFE, a long window whose bars are weeks) is given to
//! `mermaid.parse` of the `mermaid` npm package (`GITOPS_TEST_MERMAID`: its `dist/mermaid.min.js`,
//! fetched by scripts/fetch-mermaid) in headless Chromium (`GITOPS_TEST_CHROMIUM`), the parser
//! GitHub's renderer runs. The page writes each outcome into its DOM, read back with `--dump-dom`.
//! A second page holds a deliberately broken copy of a real block: it must come back as a parse
//! error, which proves the check can fail.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What `mermaid.parse` said of one block.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// Parsed; the diagram type Mermaid detected (`xychart` for `xychart-beta`).
    Ok(String),
    /// Rejected, with Mermaid's message (`Parse error on line N: ...`).
    Error(String),
}

#[test]
fn every_mermaid_block_of_the_markdown_report_parses() {
    let test = "every_mermaid_block_of_the_markdown_report_parses";
    let Some((chromium, mermaid)) = tools(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = demo(tmp.path());
    let mut blocks = Vec::new();
    for args in [
        &[][..],
        &["--env", "staging"],
        &["--env", "dev", "--mfe", "checkout"],
        &["--since", "400d"],
    ] {
        let markdown = markdown(&repo, args);
        let found = mermaid_blocks(&markdown);
        assert!(
            !found.is_empty(),
            "no mermaid block in `gitops metrics --format markdown {}`:\n{markdown}",
            args.join(" ")
        );
        blocks.extend(found.into_iter().map(|b| (args.join(" "), b)));
    }
    // The whole demo has both charts: deploys per day and the lead time per environment.
    assert!(
        blocks.iter().any(|(_, b)| b.contains("Deploys per day"))
            && blocks.iter().any(|(_, b)| b.contains("lead time"))
            && blocks.iter().any(|(_, b)| b.contains("Deploys per 7 days")),
        "{blocks:#?}"
    );

    let texts: Vec<String> = blocks.iter().map(|(_, b)| b.clone()).collect();
    let parsed = parse_in_chromium(&chromium, &mermaid, tmp.path(), "report", &texts);
    let mut failures = String::new();
    for ((args, block), outcome) in blocks.iter().zip(&parsed) {
        if *outcome != Parsed::Ok("xychart".to_owned()) {
            let _ = writeln!(
                failures,
                "`gitops metrics --format markdown {args}`: {outcome:?}\n{}",
                numbered(block)
            );
        }
    }
    assert!(failures.is_empty(), "Mermaid rejects:\n{failures}");
}

#[test]
fn a_broken_block_is_reported_as_a_parse_error() {
    let test = "a_broken_block_is_reported_as_a_parse_error";
    let Some((chromium, mermaid)) = tools(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = demo(tmp.path());
    let markdown = markdown(&repo, &[]);
    let real = mermaid_blocks(&markdown)
        .into_iter()
        .find(|b| b.contains("lead time"))
        .unwrap_or_else(|| panic!("no lead time chart in:\n{markdown}"));
    // The same chart with its x-axis list left open: what a renderer bug would write.
    let broken: String = real
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("x-axis") {
                line.trim_end_matches(']').to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(broken, real);

    let parsed = parse_in_chromium(
        &chromium,
        &mermaid,
        tmp.path(),
        "broken",
        &[real.clone(), broken.clone()],
    );
    assert_eq!(parsed[0], Parsed::Ok("xychart".to_owned()), "{real}");
    match &parsed[1] {
        Parsed::Error(message) => assert!(
            message.contains("Parse error on line"),
            "{message}\n{broken}"
        ),
        Parsed::Ok(kind) => panic!("the broken block parsed as {kind}:\n{broken}"),
    }
}

// --- the report -----------------------------------------------------------------------------

fn gitops(dir: &Path, args: &[&str]) -> Output {
    Command::new(crate::gitops_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITOPS_GITHUB_TOKEN")
        .env_remove("GITOPS_METRICS_FILE")
        .env_remove("GITHUB_REPOSITORY")
        .output()
        .unwrap()
}

fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repository `gitops demo` leaves under `dir` (1.0.0, then 1.1.0, then a rollback on dev).
fn demo(dir: &Path) -> PathBuf {
    let repo = dir.join("demo");
    ok(
        "gitops demo",
        &gitops(dir, &["demo", "--dir", repo.to_str().unwrap()]),
    );
    repo
}

fn markdown(repo: &Path, args: &[&str]) -> String {
    let r = repo.to_str().unwrap();
    let mut all = vec!["metrics", "--repo", r, "--format", "markdown"];
    all.extend_from_slice(args);
    ok(&format!("gitops {}", all.join(" ")), &gitops(repo, &all))
}

/// The text of every ```` ```mermaid ```` fenced block of `markdown`, in order.
fn mermaid_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim() == "```mermaid" => current = Some(Vec::new()),
            None => {}
            Some(lines) if line.trim() == "```" => {
                blocks.push(lines.join("\n") + "\n");
                current = None;
            }
            Some(lines) => lines.push(line),
        }
    }
    assert!(
        current.is_none(),
        "an unclosed mermaid block in:\n{markdown}"
    );
    blocks
}

fn numbered(block: &str) -> String {
    let mut out = String::new();
    for (i, line) in block.lines().enumerate() {
        let _ = writeln!(out, "{:>4} | {line}", i + 1);
    }
    out
}

// --- Mermaid in headless Chromium -----------------------------------------------------------

/// (`GITOPS_TEST_CHROMIUM`, `GITOPS_TEST_MERMAID`), or `None` after skipping `test`.
fn tools(test: &str) -> Option<(String, PathBuf)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(chromium) = var("GITOPS_TEST_CHROMIUM") else {
        gitops_testkit::skip(
            test,
            "GITOPS_TEST_CHROMIUM (Debian chromium, headless) is not set",
        );
        return None;
    };
    let Some(mermaid) = var("GITOPS_TEST_MERMAID") else {
        gitops_testkit::skip(
            test,
            "GITOPS_TEST_MERMAID (dist/mermaid.min.js of the npm package mermaid: \
             scripts/fetch-mermaid) is not set",
        );
        return None;
    };
    let mermaid = std::fs::canonicalize(&mermaid)
        .unwrap_or_else(|e| panic!("GITOPS_TEST_MERMAID={mermaid}: {e}"));
    Some((chromium, mermaid))
}

/// `blocks` given to `mermaid.parse` in a page `name.html` under `dir`, opened in headless
/// Chromium; one outcome per block, in order.
fn parse_in_chromium(
    chromium: &str,
    mermaid: &Path,
    dir: &Path,
    name: &str,
    blocks: &[String],
) -> Vec<Parsed> {
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, page_html(mermaid, blocks)).unwrap();
    let dom = dump_dom(chromium, dir, &page, name);
    assert!(
        dom.contains("data-mermaid=\"done\""),
        "the page did not finish (mermaid {} not loaded, or parse never settled):\n{}",
        mermaid.display(),
        &dom[..dom.len().min(2000)]
    );
    let parsed: Vec<Parsed> = dom
        .split("<li data-outcome=\"")
        .skip(1)
        .map(|item| {
            let (outcome, rest) = item.split_once("\">").expect("<li data-outcome=\"...\">");
            let text = unescape(rest.split_once("</li>").expect("</li>").0);
            match outcome {
                "ok" => Parsed::Ok(text),
                _ => Parsed::Error(text),
            }
        })
        .collect();
    assert_eq!(parsed.len(), blocks.len(), "{dom}");
    parsed
}

/// A page that loads `mermaid` from its file, parses every block (held as JSON, `<` escaped so
/// no block can close the script element), and lists the outcomes in `<ol id="outcomes">`; the
/// root element gets `data-mermaid="done"` (or `"missing"` when the bundle did not load).
fn page_html(mermaid: &Path, blocks: &[String]) -> String {
    let json = serde_json::to_string(blocks)
        .unwrap()
        .replace('<', "\\u003c");
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mermaid.parse</title>
<script src="{src}"></script>
<script type="application/json" id="blocks">{json}</script>
</head><body><ol id="outcomes"></ol>
<script>
(async () => {{
  const root = document.documentElement;
  if (typeof mermaid === "undefined") {{ root.dataset.mermaid = "missing"; return; }}
  mermaid.initialize({{ startOnLoad: false }});
  const list = document.getElementById("outcomes");
  const blocks = JSON.parse(document.getElementById("blocks").textContent);
  for (const text of blocks) {{
    const item = document.createElement("li");
    try {{
      const result = await mermaid.parse(text);
      item.dataset.outcome = "ok";
      item.textContent = result && result.diagramType ? result.diagramType : "?";
    }} catch (e) {{
      item.dataset.outcome = "error";
      item.textContent = String((e && e.message) || e);
    }}
    list.appendChild(item);
  }}
  root.dataset.mermaid = "done";
}})();
</script></body></html>
"#,
        src = file_url(mermaid)
    )
}

/// `file://` URL of an absolute path, every byte outside `[A-Za-z0-9/._~-]` percent-encoded.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for byte in path.to_str().expect("a UTF-8 path").bytes() {
        if byte.is_ascii_alphanumeric() || b"/._~-".contains(&byte) {
            url.push(char::from(byte));
        } else {
            let _ = write!(url, "%{byte:02X}");
        }
    }
    url
}

/// The entities Chromium writes in text content, decoded.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Chromium's `--dump-dom` of `page` once its scripts settled (a virtual-time budget lets the
/// async parsing finish). Fails after two minutes.
fn dump_dom(bin: &str, dir: &Path, page: &Path, name: &str) -> String {
    let args = ["--virtual-time-budget=10000", "--dump-dom"];
    gitops_testkit::chromium::headless(bin, dir, &file_url(page), name, &args).0
}
