//! Changes addressed by branch rather than by pair: a promotion's `gitops-promote/<from>/<to>`.

use super::{base_sha, branch_head, env_name, unique};
use crate::{
    BranchHead, Change, Error, FileWrite, Forge, PairState, PrState, branch_name, pair_of_branch,
    promotion_branch, promotion_of_branch,
};

fn promote(branch: &str, title: &str, writes: Vec<FileWrite>) -> Change {
    Change::for_branch(branch, title, format!("body of {title}"), writes)
}

async fn state(forge: &dyn Forge, branch: &str, path: Option<&str>, exact: bool) -> PairState {
    forge
        .branch_state(branch, path, exact)
        .await
        .expect("branch_state")
}

/// A change on a branch that is no pair's (a promotion's): [`Forge::branch_state`] follows it
/// as [`Forge::pair_state`] follows a pair (absent; the open PR and, when a file is asked
/// about, its pending content; nothing pending once merged); one proposal writes several files
/// in ONE pull request whose diff is exactly the writes; a stale expectation is `Conflict` and
/// changes nothing; a newer proposal judged against the open PR replaces its content (same
/// number, a dropped write gone from the diff); the merge lands the writes; after it a new
/// proposal opens a new PR. The base branch and a bad branch name are refused (`Invalid`).
/// `pair_state` is `branch_state` of the pair's branch.
pub async fn branch_addressed_proposal(forge: &dyn Forge) {
    let (from, to) = (env_name("conf"), env_name(&unique("promo")));
    let branch = promotion_branch(&from, &to);
    assert_eq!(promotion_of_branch(&branch), Some((from, to.clone())));
    assert_eq!(pair_of_branch(&branch), None);
    let (a, b) = (
        format!("deployments/{to}/alpha.json"),
        format!("deployments/{to}/beta.json"),
    );
    let absent = PairState {
        expected: BranchHead::Absent,
        pull_request: None,
        pending: None,
    };
    for exact in [false, true] {
        assert_eq!(state(forge, &branch, None, exact).await, absent, "{exact}");
        assert_eq!(
            state(forge, &branch, Some(&a), exact).await,
            absent,
            "{exact}"
        );
    }

    let fresh = state(forge, &branch, Some(&a), true).await;
    let first = forge
        .propose(
            &promote(
                &branch,
                "promote 1",
                vec![FileWrite::put(&a, "1\n"), FileWrite::put(&b, "1\n")],
            )
            .judged_against(&fresh),
        )
        .await
        .expect("propose on a new branch");
    assert_eq!(
        (first.branch.as_str(), first.state, first.pair()),
        (branch.as_str(), PrState::Open, None)
    );
    assert_eq!(first.base, forge.base_branch());
    assert_eq!(
        forge.changed_files(first.number).await.expect("files"),
        vec![a.clone(), b.clone()],
        "one pull request holds every write"
    );
    for exact in [false, true] {
        let open = state(forge, &branch, Some(&a), exact).await;
        assert_eq!(open.expected, BranchHead::At(first.head_sha.clone()));
        assert_eq!(
            open.pull_request.as_ref().map(|p| (p.number, p.state)),
            Some((first.number, PrState::Open)),
            "exact: {exact}"
        );
        assert_eq!(open.pending.as_deref(), Some(&b"1\n"[..]), "exact: {exact}");
        let unasked = state(forge, &branch, None, exact).await;
        assert_eq!(unasked.pending, None, "no file asked about: nothing read");
        assert_eq!(
            (unasked.expected, unasked.pull_request.map(|p| p.number)),
            (open.expected, Some(first.number))
        );
    }

    // Stale: against the absent branch seen before the first proposal.
    let stale = forge
        .propose(&promote(&branch, "stale", vec![FileWrite::put(&a, "0\n")]).judged_against(&fresh))
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    assert_eq!(
        branch_head(forge.read_tree(&branch).await),
        Some(first.head_sha.clone())
    );
    let read = forge.pull_request(first.number).await.expect("pr");
    assert_eq!(
        (read.head_sha, read.title),
        (first.head_sha.clone(), "promote 1".to_owned())
    );

    // A newer proposal replaces the pending one: same PR, only its own writes.
    let current = state(forge, &branch, None, true).await;
    let second = forge
        .propose(
            &promote(&branch, "promote 2", vec![FileWrite::put(&a, "2\n")])
                .judged_against(&current),
        )
        .await
        .expect("replace the pending proposal");
    assert_eq!(second.number, first.number, "one PR per branch");
    assert_eq!(second.title, "promote 2");
    assert_eq!(
        forge.changed_files(second.number).await.expect("files"),
        vec![a.clone()],
        "the replaced proposal's writes are gone"
    );
    let open = forge.open_pull_requests().await.expect("open");
    assert_eq!(open.iter().filter(|p| p.branch == branch).count(), 1);
    for _ in 0..2 {
        forge
            .upsert_comment(second.number, "gitops-plan", "plan")
            .await
            .expect("comment");
    }
    assert_eq!(
        forge.comments(second.number).await.expect("comments").len(),
        1
    );

    let merged = forge
        .merge(second.number, &second.head_sha)
        .await
        .expect("merge");
    let tree = forge.read_tree(merged.as_str()).await.expect("the merge");
    assert_eq!(tree.files.get(&a).map(Vec::as_slice), Some(&b"2\n"[..]));
    assert!(
        !tree.files.contains_key(&b),
        "the dropped write never lands"
    );
    for exact in [false, true] {
        assert_eq!(
            state(forge, &branch, Some(&a), exact).await,
            PairState {
                expected: BranchHead::At(second.head_sha.clone()),
                pull_request: None,
                pending: None,
            },
            "merged: nothing pending (exact: {exact})"
        );
    }
    let after = state(forge, &branch, None, true).await;
    let third = forge
        .propose(
            &promote(&branch, "promote 3", vec![FileWrite::put(&b, "3\n")])
                .judged_against(&after)
                .on_base(merged, None),
        )
        .await
        .expect("propose after the merge");
    assert_ne!(third.number, second.number, "a new PR after the merge");
    assert_eq!(
        forge.changed_files(third.number).await.expect("files"),
        vec![b.clone()]
    );

    // Refused: the base branch itself, a bad branch name, a bad path.
    let base = base_sha(forge).await;
    let on_base = forge
        .propose(&promote(
            forge.base_branch(),
            "on base",
            vec![FileWrite::put(&a, "x\n")],
        ))
        .await;
    assert!(matches!(on_base, Err(Error::Invalid { .. })), "{on_base:?}");
    assert_eq!(base_sha(forge).await, base, "the base did not move");
    let bad = forge
        .propose(&promote(
            "bad..branch",
            "bad",
            vec![FileWrite::put(&a, "x")],
        ))
        .await;
    assert!(matches!(bad, Err(Error::Invalid { .. })), "{bad:?}");
    assert!(matches!(
        forge.branch_state("bad..branch", None, false).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        forge.branch_state(&branch, Some("../x"), false).await,
        Err(Error::Invalid { .. })
    ));

    // A pair's state is its branch's state.
    let (env, mfe) = (env_name("conf"), super::mfe_name(&unique("pairs")));
    let path = format!("deployments/{env}/{mfe}.json");
    forge
        .propose(&Change::new(
            env.clone(),
            mfe.clone(),
            "pair",
            "",
            vec![FileWrite::put(&path, "p\n")],
        ))
        .await
        .expect("a pair's proposal");
    assert_eq!(
        forge
            .pair_state(&env, &mfe, &path, true)
            .await
            .expect("pair"),
        state(forge, &branch_name(&env, &mfe), Some(&path), true).await
    );
}
