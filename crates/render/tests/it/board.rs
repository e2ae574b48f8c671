//! `gitops board`'s page: a fixture fleet (3 environments x 12 MFEs, one drifted, one rolled
//! back, one failed) rendered and checked as text, hostile values escaped, every colour pair
//! readable, then opened in headless Chromium (`GITOPS_TEST_CHROMIUM`): a screenshot under
//! `target/board/` (copied to `docs/board.png` when `UPDATE_BOARD_SCREENSHOT=1`) and a DOM dump
//! with every cell, every link resolvable, the page's script run and no console message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gitops_render::{
    BoardCell, BoardData, BoardDeployment, BoardDora, BoardFigure, BoardLinks, CellState,
    render_board,
};

const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "production"];
const MFES: [&str; 12] = [
    "account", "billing", "cart", "catalog", "checkout", "footer", "header", "orders", "profile",
    "reviews", "search", "wishlist",
];
/// The drifted pair: live 2.3.0, desired 2.4.0, nothing failed.
const DRIFTED: (&str, &str) = ("production", "checkout");
/// The rolled-back pair: live 1.7.0 is a rollback (pinned) from 1.8.0.
const ROLLED_BACK: (&str, &str) = ("staging", "search");
/// The failed pair: the deploy of 1.3.0 failed, 1.2.0 stays live.
const FAILED: (&str, &str) = ("production", "cart");
/// The pair never deployed: desired 0.1.0, nothing live.
const NOT_DEPLOYED: (&str, &str) = ("dev", "wishlist");

fn links(n: usize, mfe: &str) -> BoardLinks {
    BoardLinks {
        pull_request: Some(format!("https://github.com/acme/gitops-config/pull/{n}")),
        commit: Some(format!(
            "https://github.com/acme/{mfe}-mfe/commit/{:040x}",
            n * 7919
        )),
        run: Some(format!(
            "https://github.com/acme/gitops-config/actions/runs/{}",
            9_000_000 + n
        )),
    }
}

fn fixture() -> BoardData {
    let mut cells = Vec::new();
    let mut n = 100;
    for (e, env) in ENVIRONMENTS.iter().enumerate() {
        for (m, mfe) in MFES.iter().enumerate() {
            n += 1;
            let version = format!("{}.{}.0", 1 + m % 3, e + m);
            let mut cell = BoardCell {
                environment: (*env).to_owned(),
                mfe: (*mfe).to_owned(),
                live: Some(version.clone()),
                desired: Some(version),
                state: CellState::InSync,
                deployed_at: Some(format!("2025-06-{:02}T10:00:00Z", 1 + m)),
                age_seconds: Some(3_600 * (e as u64 * 24 + m as u64 * 5 + 1)),
                requested_by: Some(format!("{mfe}-ci")),
                links: links(n, mfe),
                ..BoardCell::default()
            };
            match (*env, *mfe) {
                p if p == DRIFTED => {
                    cell.live = Some("2.3.0".into());
                    cell.desired = Some("2.4.0".into());
                    cell.state = CellState::Drift;
                    cell.detail = Some("live differs from desired".into());
                }
                p if p == ROLLED_BACK => {
                    cell.live = Some("1.7.0".into());
                    cell.desired = Some("1.7.0".into());
                    cell.rollback = true;
                    cell.pinned = true;
                    cell.requested_by = Some("alice".into());
                }
                p if p == FAILED => {
                    cell.live = Some("1.2.0".into());
                    cell.desired = Some("1.3.0".into());
                    cell.state = CellState::Drift;
                    cell.failed = true;
                    cell.detail = Some("the deploy of 1.3.0 failed at upload".into());
                }
                p if p == NOT_DEPLOYED => {
                    cell.live = None;
                    cell.desired = Some("0.1.0".into());
                    cell.state = CellState::NotDeployed;
                    cell.deployed_at = None;
                    cell.age_seconds = None;
                }
                _ => {}
            }
            cells.push(cell);
        }
    }
    let mut recent = Vec::new();
    for i in 0..12_usize {
        let env = ENVIRONMENTS[i % 3];
        let mfe = MFES[(i * 5) % 12];
        let mut d = BoardDeployment {
            at: format!("2025-06-20T{:02}:15:00Z", 23 - i),
            environment: env.to_owned(),
            mfe: mfe.to_owned(),
            version: format!("1.{i}.0"),
            who: format!("{mfe}-ci"),
            links: links(500 + i, mfe),
            ..BoardDeployment::default()
        };
        if i == 1 {
            (d.environment, d.mfe, d.version) = (FAILED.0.into(), FAILED.1.into(), "1.3.0".into());
            d.failed = true;
            d.who = "cart-ci".into();
        }
        if i == 2 {
            (d.environment, d.mfe, d.version) =
                (ROLLED_BACK.0.into(), ROLLED_BACK.1.into(), "1.7.0".into());
            d.rollback = true;
            d.who = "alice".into();
        }
        recent.push(d);
    }
    let dora = ENVIRONMENTS
        .iter()
        .zip(0_u32..)
        .map(|(env, e)| {
            let figure = |name: &str, value: Option<f64>, unit: &str, label: &str| BoardFigure {
                name: name.into(),
                value,
                unit: unit.into(),
                detail: Some(format!("{} deploys in 30 days", 12 + e)),
                series: (0..14_u32).map(|d| f64::from((d * (e + 2)) % 5)).collect(),
                series_label: label.into(),
            };
            BoardDora {
                environment: (*env).to_owned(),
                figures: vec![
                    figure(
                        "Deployment frequency",
                        Some(0.4 + f64::from(e)),
                        "per day",
                        "deploys per day, last 14 days",
                    ),
                    figure(
                        "Lead time for changes",
                        Some(2.5),
                        "h (median)",
                        "median lead time per day, hours",
                    ),
                    figure(
                        "Change failure rate",
                        Some(8.33),
                        "%",
                        "failed changes per day",
                    ),
                    figure(
                        "Failed-deployment recovery time",
                        if e == 0 { None } else { Some(0.75) },
                        "h (median)",
                        "recovery time per failure, hours",
                    ),
                ],
            }
        })
        .collect();
    BoardData {
        title: "acme/gitops-config".into(),
        generated_at: "2025-06-21T08:00:00Z".into(),
        repository_url: Some("https://github.com/acme/gitops-config".into()),
        environments: ENVIRONMENTS.iter().map(|s| (*s).to_owned()).collect(),
        mfes: MFES.iter().map(|s| (*s).to_owned()).collect(),
        cells,
        recent,
        dora,
    }
}

/// Every value of attribute `name` in `html`, in order (`name="..."`, as Chromium serialises).
fn attributes(html: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

/// The opening tags of the matrix's cells.
fn cell_tags(html: &str) -> Vec<&str> {
    html.split("<td class=\"cell\"")
        .skip(1)
        .map(|s| &s[..s.find('>').unwrap_or(s.len())])
        .collect()
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    let end = tag[i..].find('"')?;
    Some(&tag[i..i + end])
}

fn state_of(html: &str, pair: (&str, &str)) -> String {
    cell_tags(html)
        .into_iter()
        .find(|t| {
            attribute(t, "data-environment") == Some(pair.0)
                && attribute(t, "data-mfe") == Some(pair.1)
        })
        .and_then(|t| attribute(t, "data-state"))
        .unwrap_or_else(|| panic!("no cell for {pair:?}"))
        .to_owned()
}

/// The matrix, the badges, the links and the self-containment of a rendered page (the text
/// rendered, or Chromium's DOM dump of it).
fn check_page(html: &str) {
    let data = fixture();
    // Every pair once, with its state.
    let tags = cell_tags(html);
    assert_eq!(tags.len(), 36, "36 cells (3 environments x 12 MFEs)");
    let pairs: BTreeSet<(String, String)> = tags
        .iter()
        .map(|t| {
            (
                attribute(t, "data-environment").unwrap().to_owned(),
                attribute(t, "data-mfe").unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ENVIRONMENTS
        .iter()
        .flat_map(|e| MFES.iter().map(|m| ((*e).to_owned(), (*m).to_owned())))
        .collect();
    assert_eq!(pairs, expected);
    assert_eq!(state_of(html, DRIFTED), "drift");
    assert_eq!(state_of(html, FAILED), "drift");
    assert_eq!(state_of(html, ROLLED_BACK), "in-sync");
    assert_eq!(state_of(html, NOT_DEPLOYED), "not-deployed");
    let states: Vec<&str> = tags
        .iter()
        .filter_map(|t| attribute(t, "data-state"))
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "in-sync").count(), 33);
    // States are text badges, not colour only.
    assert_eq!(
        html.matches(">drift</span>").count(),
        2 + 1,
        "two cells + the summary"
    );
    assert_eq!(html.matches(">in sync</span>").count(), 33 + 1);
    assert_eq!(html.matches(">not deployed</span>").count(), 1 + 1);
    assert_eq!(
        html.matches(">failed</span>").count(),
        2,
        "the cell and the recent deploy"
    );
    assert_eq!(
        html.matches(">rollback</span>").count(),
        2,
        "the cell and the recent deploy"
    );
    assert_eq!(html.matches(">pinned</span>").count(), 1);
    for v in ["2.3.0", "2.4.0", "1.3.0", "0.1.0"] {
        assert!(html.contains(&format!("<code>{v}</code>")), "{v} shown");
    }
    // Table semantics.
    assert!(html.contains("<caption id=\"matrix-caption\">"));
    assert_eq!(
        html.matches("<th scope=\"col\"").count(),
        1 + 3 + 7,
        "matrix and recent headers"
    );
    assert_eq!(html.matches("<th scope=\"row\">").count(), 12 + 12);
    // Every link resolvable: http(s), or an anchor of the page.
    let ids: BTreeSet<String> = attributes(html, "id").into_iter().collect();
    let hrefs: Vec<String> = attributes(html, "href")
        .iter()
        .map(|h| unescape(h))
        .collect();
    for href in &hrefs {
        if let Some(anchor) = href.strip_prefix('#') {
            assert!(ids.contains(anchor), "{href} points at no element");
        } else {
            assert!(
                href.starts_with("https://") || href.starts_with("http://"),
                "{href} is not http(s)"
            );
        }
    }
    let with_links = data.cells.len() + data.recent.len();
    assert_eq!(
        hrefs.len(),
        1 + 3 + 3 * with_links,
        "the repository, 3 sections, PR/commit/run of every cell and deploy"
    );
    assert!(hrefs.contains(&"https://github.com/acme/gitops-config/actions/runs/9000101".into()));
    // Nothing is loaded: no src, no stylesheet link, no url() or @import in the CSS.
    for forbidden in [
        " src=", "<link", "url(", "@import", "<iframe", "<object", "<embed",
    ] {
        assert!(!html.contains(forbidden), "the page holds {forbidden}");
    }
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert_eq!(html.matches("<svg").count(), 3 * 4, "one chart per figure");
    assert_eq!(
        unescape(html).matches(">n/a<").count(),
        1,
        "the undefined figure"
    );
}

#[test]
fn the_fixture_fleet_is_drawn_whole() {
    let html = render_board(&fixture());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta name=\"viewport\" content=\"width=device-width"));
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none';"));
    check_page(&html);
    // The page is a function of its data.
    assert_eq!(html, render_board(&fixture()));
}

/// Hostile values in every field a user controls.
fn hostile() -> BoardData {
    let evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
    let mut data = fixture();
    data.title = evil.into();
    data.repository_url = Some("javascript:alert(3)".into());
    data.environments[0] = evil.into();
    data.mfes[0] = format!("{evil}&amp;");
    for c in &mut data.cells {
        if c.environment == "dev" {
            c.environment = evil.into();
        }
        if c.mfe == "account" {
            c.mfe = format!("{evil}&amp;");
        }
    }
    let cell = &mut data.cells[1];
    cell.live = Some(evil.into());
    cell.detail = Some(evil.into());
    cell.requested_by = Some("' onmouseover='alert(4)".into());
    cell.links = BoardLinks {
        pull_request: Some("javascript:alert(5)".into()),
        commit: Some("\" onclick=\"alert(6)".into()),
        run: Some("https://github.com/acme/x/actions/runs/1\" onclick=\"alert(7)".into()),
    };
    data.recent[0].who = evil.into();
    data.recent[0].links.commit = Some("data:text/html,<script>alert(8)</script>".into());
    data.dora[0].figures[0].name = evil.into();
    data.dora[0].figures[0].unit = evil.into();
    data.dora[0].figures[0].series_label = evil.into();
    data.generated_at = evil.into();
    data
}

/// The tags of `html` (text never holds a raw `<`: it is escaped): (name, attribute names).
fn tags(html: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '<' {
            continue;
        }
        // Unquoted text of the tag, quoted values dropped.
        let mut bare = String::new();
        let mut quote = None;
        for c in chars.by_ref() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => break,
                (None, c) => bare.push(c),
                _ => {}
            }
        }
        let mut words = bare.split_whitespace();
        let name = words.next().unwrap_or_default().to_ascii_lowercase();
        let attrs = words
            .map(|w| w.split('=').next().unwrap_or_default().to_ascii_lowercase())
            .filter(|a| !a.is_empty())
            .collect();
        out.push((name, attrs));
    }
    out
}

/// Entities the renderer and Chromium write in attribute values, decoded.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn check_hostile(html: &str) {
    let tags = tags(html);
    let names: BTreeSet<&str> = tags.iter().map(|(n, _)| n.as_str()).collect();
    for bad in ["img", "iframe", "object", "embed", "link"] {
        assert!(!names.contains(bad), "a <{bad}> element from a value");
    }
    assert_eq!(
        tags.iter().filter(|(n, _)| n == "script").count(),
        1,
        "only the page's own script"
    );
    for (name, attrs) in &tags {
        for a in attrs {
            assert!(
                !a.starts_with("on") && a != "src",
                "<{name} {a}> from a value"
            );
        }
    }
    for href in attributes(html, "href") {
        let href = unescape(&href);
        assert!(
            href.starts_with('#') || href.starts_with("https://github.com/acme/"),
            "link {href}"
        );
    }
    assert!(!html.contains("<a href=\"https://github.com/acme/x/actions/runs/1"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;"),
        "the text is shown, escaped"
    );
}

#[test]
fn hostile_values_are_text_and_bad_links_are_dropped() {
    let html = render_board(&hostile());
    check_hostile(&html);
    // Quotes are escaped in attributes.
    assert!(
        html.contains("data-environment=\"&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot;&#x27;")
    );
    // `&amp;` in a value is shown as typed, not decoded.
    assert!(html.contains("&amp;amp;"));
}

#[test]
fn an_empty_board_is_still_a_page() {
    let html = render_board(&BoardData::default());
    assert!(html.contains("<title>Deployment board"));
    assert!(html.contains("No deployment recorded yet."));
    assert!(html.contains("No metrics yet."));
    assert_eq!(cell_tags(&html).len(), 0);
}

/// `#rrggbb` -> WCAG relative luminance.
fn luminance(hex: &str) -> f64 {
    let hex = hex.trim_start_matches('#');
    assert_eq!(hex.len(), 6, "{hex}: #rrggbb");
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
}

#[test]
fn every_colour_pair_has_contrast_for_text() {
    let html = render_board(&fixture());
    let root = &html[html.find(":root {").unwrap()..];
    let root = &root[..root.find('}').unwrap()];
    let var = |name: &str| -> Option<String> {
        let i = root.find(&format!("--{name}: "))? + name.len() + 4;
        Some(root[i..i + 7].to_owned())
    };
    let names: Vec<&str> = root
        .split("--")
        .skip(1)
        .filter_map(|d| d.split_once("-fg:").map(|(n, _)| n))
        .collect();
    assert!(names.len() >= 12, "the palette is found: {names:?}");
    for name in names {
        let fg = var(&format!("{name}-fg")).unwrap();
        let bg = var(&format!("{name}-bg")).unwrap_or_else(|| panic!("--{name}-bg"));
        let (a, b) = (luminance(&fg), luminance(&bg));
        let ratio = (a.max(b) + 0.05) / (a.min(b) + 0.05);
        assert!(
            ratio >= 4.5,
            "{name}: {fg} on {bg} is {ratio:.2}:1, below 4.5:1"
        );
        // Text on the page background (links, muted text) must read too.
        let page = luminance("#ffffff");
        let on_page = (page.max(a) + 0.05) / (page.min(a) + 0.05);
        assert!(on_page >= 4.5, "{name}: {fg} on the page is {on_page:.2}:1");
    }
}

// --- headless Chromium ------------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Runs Chromium headless on `page` with `args`; (stdout, stderr). Fails after two minutes.
fn chromium(bin: &str, dir: &Path, page: &Path, name: &str, args: &[&str]) -> (String, String) {
    let url = format!("file://{}", page.display());
    gitops_testkit::chromium::headless(bin, dir, &url, name, args)
}

/// What the page printed to the console, or a refused load: `CONSOLE` lines (a script error is
/// `Uncaught ...`) and Content-Security-Policy refusals.
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Refused to")
                || l.contains("Content Security Policy")
        })
        .collect()
}

fn chromium_bin(test: &str) -> Option<String> {
    match std::env::var("GITOPS_TEST_CHROMIUM") {
        Ok(bin) if !bin.is_empty() => Some(bin),
        _ => {
            gitops_testkit::skip(
                test,
                "GITOPS_TEST_CHROMIUM (Debian chromium, headless) is not set",
            );
            None
        }
    }
}

#[test]
fn chromium_draws_the_fixture_fleet() {
    let Some(bin) = chromium_bin("chromium_draws_the_fixture_fleet") else {
        return;
    };
    let dir = target_dir().join("board");
    std::fs::create_dir_all(&dir).unwrap();
    let page = std::fs::canonicalize(&dir).unwrap().join("board.html");
    std::fs::write(&page, render_board(&fixture())).unwrap();

    let (dom, stderr) = chromium(&bin, &dir, &page, "dump-dom", &["--dump-dom"]);
    assert!(
        console_messages(&stderr).is_empty(),
        "console messages: {:?}",
        console_messages(&stderr)
    );
    // The page's script ran (its hash is what the policy allows) and the page is whole.
    assert!(
        dom.contains("<html lang=\"en\" data-script=\"ran\">"),
        "{}",
        &dom[..dom.len().min(200)]
    );
    check_page(&dom);

    let shot = dir.join("board.png");
    let phone = dir.join("board-phone.png");
    let (_, stderr) = chromium(
        &bin,
        &dir,
        &page,
        "screenshot",
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,3050",
        ],
    );
    assert!(console_messages(&stderr).is_empty(), "{stderr}");
    let (_, stderr) = chromium(
        &bin,
        &dir,
        &page,
        "screenshot-phone",
        &[
            &format!("--screenshot={}", phone.display()),
            "--window-size=390,844",
        ],
    );
    assert!(console_messages(&stderr).is_empty(), "{stderr}");
    for png in [&shot, &phone] {
        let bytes = std::fs::read(png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
            "{} is a screenshot",
            png.display()
        );
    }
    if std::env::var("UPDATE_BOARD_SCREENSHOT").as_deref() == Ok("1") {
        std::fs::copy(&shot, workspace_root().join("docs/board.png")).unwrap();
    }
}

#[test]
fn chromium_shows_hostile_values_as_text() {
    let Some(bin) = chromium_bin("chromium_shows_hostile_values_as_text") else {
        return;
    };
    let dir = target_dir().join("board");
    std::fs::create_dir_all(&dir).unwrap();
    let page = std::fs::canonicalize(&dir)
        .unwrap()
        .join("board-hostile.html");
    std::fs::write(&page, render_board(&hostile())).unwrap();
    let (dom, stderr) = chromium(&bin, &dir, &page, "hostile", &["--dump-dom"]);
    assert!(console_messages(&stderr).is_empty(), "{stderr}");
    assert!(dom.contains("<html lang=\"en\" data-script=\"ran\">"));
    check_hostile(&dom);
}
