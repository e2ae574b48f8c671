//! Re-rendering with a new setup action pin: `mfe upgrade` (the options read back from the
//! workflows) and `gitops init --check` (saying when only the pin changed).

use std::path::Path;

use gitops_render::{ActionRef, GitopsOptions, Status, upgrade_mfe_workflows, write_files};

const PIN_B: &str = "acme/mfe-gitops-mirror@0123456789abcdef0123456789abcdef01234567";

fn pin_b() -> ActionRef {
    ActionRef::parse(PIN_B).unwrap()
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap()
}

/// The lines of `before` and `after` that differ, as (removed, added), header excluded.
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let body = |s: &str| s.split_once('\n').unwrap().1.to_owned();
    let (before, after) = (body(before), body(after));
    let diff = similar::TextDiff::from_lines(&before, &after);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for change in diff.iter_all_changes() {
        let line = change.value().trim().to_owned();
        match change.tag() {
            similar::ChangeTag::Delete => removed.push(line),
            similar::ChangeTag::Insert => added.push(line),
            similar::ChangeTag::Equal => {}
        }
    }
    (removed, added)
}

#[test]
fn an_upgrade_reads_the_options_back_and_changes_only_the_pin() {
    assert!(
        crate::mfe_option_sets().iter().any(|(_, o)| o.app),
        "App mode is covered"
    );
    for (set, options) in crate::mfe_option_sets() {
        let dir = tempfile::tempdir().unwrap();
        let old = gitops_render::render_mfe_workflows(&options).unwrap();
        write_files(dir.path(), &old, false, false).unwrap();

        let check = upgrade_mfe_workflows(dir.path(), &pin_b(), true, false).unwrap();
        assert!(check.differs(), "{set}");
        for (file, before) in check.files.iter().zip(&old) {
            assert_eq!(file.status, Status::Outdated, "{set}");
            assert!(!file.written, "--check never writes");
            assert_eq!(read(dir.path(), &file.path), before.contents);
        }
        let report = check.upgrade_report(true);
        assert!(
            report.contains("outdated: only the setup action pin and tool version differ"),
            "{set}: {report}"
        );

        let outcome = upgrade_mfe_workflows(dir.path(), &pin_b(), false, false).unwrap();
        assert!(!outcome.failed(false), "{set}");
        let report = outcome.upgrade_report(false);
        let expected = format!(
            "setup action: {} # v{v} -> {PIN_B} # v{v}",
            crate::PIN,
            v = gitops_render::VERSION
        );
        assert!(report.contains(&expected), "{set}: {report}");
        assert!(
            !report.contains("@@"),
            "{set}: a pin-only update shows no diff: {report}"
        );
        // Exactly the options rendered before, with pin B: the same bytes as a fresh render.
        let mut with_b = options.clone();
        with_b.action = pin_b();
        let fresh = gitops_render::render_mfe_workflows(&with_b).unwrap();
        for (before, after) in old.iter().zip(&fresh) {
            let now = read(dir.path(), &before.path);
            assert_eq!(now, after.contents, "{set} {}", before.path);
            let (removed, added) = changed_lines(&before.contents, &now);
            let installs = before.contents.matches("- name: Install mfe").count();
            assert!(installs >= 1);
            assert_eq!(removed.len(), installs, "{set}: {removed:?}");
            assert_eq!(added.len(), installs, "{set}: {added:?}");
            for line in removed {
                assert!(line.contains(crate::PIN), "{set}: {line}");
            }
            for line in added {
                assert!(line.contains(PIN_B), "{set}: {line}");
            }
        }
        // Upgrading again to the same pin changes nothing.
        let again = upgrade_mfe_workflows(dir.path(), &pin_b(), true, false).unwrap();
        assert!(!again.differs(), "{set}");
        // App mode survives the upgrade (recorded as `--app`, read back, rendered again).
        let cd = read(dir.path(), ".github/workflows/micro-frontend-cd.yml");
        assert_eq!(cd.contains("mfe dispatch --app "), options.app, "{set}");
        assert_eq!(cd.contains("GITOPS_DISPATCH_TOKEN"), !options.app, "{set}");
        let recorded = cd
            .lines()
            .find(|l| l.starts_with("#   mfe render "))
            .unwrap();
        assert_eq!(
            recorded.ends_with(" --app"),
            options.app,
            "{set}: {recorded}"
        );
    }
}

#[test]
fn an_upgrade_keeps_edited_files_and_deleted_workflows() {
    let (_, options) = crate::mfe_option_sets().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let old = gitops_render::render_mfe_workflows(&options).unwrap();
    write_files(dir.path(), &old, false, false).unwrap();
    let ci = &old[0].path;
    let edited = read(dir.path(), ci).replace("timeout-minutes: 30", "timeout-minutes: 40");
    std::fs::write(dir.path().join(ci), &edited).unwrap();

    let outcome = upgrade_mfe_workflows(dir.path(), &pin_b(), false, false).unwrap();
    assert!(outcome.refused());
    assert_eq!(outcome.files[0].status, Status::Edited);
    assert!(!outcome.files[0].written);
    assert_eq!(read(dir.path(), ci), edited, "an edit survives an upgrade");
    assert_eq!(outcome.files[1].status, Status::Outdated);
    assert!(read(dir.path(), &old[1].path).contains(PIN_B));
    let report = outcome.upgrade_report(false);
    assert!(report.contains("kept; rerun with --force"), "{report}");
    assert!(report.contains("+    timeout-minutes: 30"), "{report}");

    let forced = upgrade_mfe_workflows(dir.path(), &pin_b(), false, true).unwrap();
    assert!(forced.files[0].written);
    assert!(read(dir.path(), ci).contains(PIN_B));

    // A deleted workflow is not brought back by an upgrade.
    std::fs::remove_file(dir.path().join(&old[1].path)).unwrap();
    let outcome = upgrade_mfe_workflows(dir.path(), &pin_b(), false, false).unwrap();
    assert_eq!(outcome.files.len(), 1);
    assert!(!dir.path().join(&old[1].path).exists());
}

#[test]
fn an_upgrade_refuses_what_it_cannot_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let e = upgrade_mfe_workflows(dir.path(), &pin_b(), false, false).unwrap_err();
    assert!(e.to_string().contains("run `mfe render` first"), "{e}");

    let (_, options) = crate::mfe_option_sets().remove(0);
    let old = gitops_render::render_mfe_workflows(&options).unwrap();
    write_files(dir.path(), &old, false, false).unwrap();
    let ci = dir.path().join(&old[0].path);
    let text = read(dir.path(), &old[0].path);
    std::fs::write(
        &ci,
        text.replace("--mfe checkout", "--mfe checkout --force"),
    )
    .unwrap();
    let e = upgrade_mfe_workflows(dir.path(), &pin_b(), false, false).unwrap_err();
    assert!(e.to_string().contains("`--force` is not an option"), "{e}");
    std::fs::write(&ci, text.replace("--mfe checkout", "--mfe payments")).unwrap();
    let e = upgrade_mfe_workflows(dir.path(), &pin_b(), false, false).unwrap_err();
    assert!(e.to_string().contains("records other options"), "{e}");
    std::fs::write(&ci, "name: hand-written\non: push\n").unwrap();
    let e = upgrade_mfe_workflows(dir.path(), &pin_b(), false, false).unwrap_err();
    assert!(e.to_string().contains("no `mfe render` command"), "{e}");
    assert_eq!(
        read(dir.path(), &old[0].path),
        "name: hand-written\non: push\n"
    );
}

#[test]
fn init_check_says_when_only_the_pin_changed() {
    let dir = tempfile::tempdir().unwrap();
    let a = gitops_render::render_gitops_scaffold(&GitopsOptions::new(crate::pin())).unwrap();
    write_files(dir.path(), &a, false, false).unwrap();
    let b = gitops_render::render_gitops_scaffold(&GitopsOptions::new(pin_b())).unwrap();
    let check = write_files(dir.path(), &b, true, false).unwrap();
    assert!(check.differs());
    let report = check.report(true);
    let workflows: Vec<_> = check
        .files
        .iter()
        .filter(|f| f.path.starts_with(".github/workflows/"))
        .collect();
    assert_eq!(workflows.len(), 7);
    for f in workflows {
        assert_eq!(f.status, Status::Outdated);
        assert!(f.pin.as_ref().is_some_and(|p| p.only), "{}", f.path);
        assert!(
            report.contains(&format!(
                "{}: outdated: only the setup action pin and tool version differ",
                f.path
            )),
            "{report}"
        );
    }
    assert_eq!(report.matches("setup action: ").count(), 1, "{report}");
    assert!(
        report.contains(&format!("-        uses: {}", crate::PIN)),
        "{report}"
    );

    // Another option too: the files are outdated, not "only the pin".
    let mut other = GitopsOptions::new(pin_b());
    other.drift_cron = "0 6 * * *".into();
    let c = gitops_render::render_gitops_scaffold(&other).unwrap();
    let check = write_files(dir.path(), &c, true, false).unwrap();
    let drift = check
        .files
        .iter()
        .find(|f| f.path.ends_with("gitops-drift.yml"))
        .unwrap();
    assert_eq!(drift.status, Status::Outdated);
    assert!(drift.pin.as_ref().is_some_and(|p| !p.only));
    assert!(check.report(true).contains("gitops-drift.yml: outdated\n"));
}
