//! An environment's batch: several pairs' changes appended, one commit each, to ONE branch
//! (`gitops-batch/<env>`) and ONE pull request.

use super::{base_sha, branch_head, env_name, unique};
use crate::{
    BranchHead, Change, Error, FileWrite, Forge, PrState, PullRequest, batch_branch,
    batch_of_branch, pair_of_branch, promotion_of_branch,
};

/// One more change appended on the batch's head: built on that head (not the base), compared
/// and swapped on it, the open PR's title and body kept.
fn append(branch: &str, open: &PullRequest, title: &str, writes: Vec<FileWrite>) -> Change {
    Change::for_branch(branch, title, format!("body of {title}"), writes)
        .on_base(open.head_sha.clone(), None)
        .expecting(BranchHead::At(open.head_sha.clone()))
        .with_pull_request(open.number)
        .keeping_description()
}

/// A batch: a change appended on the open PR's head ([`Change::on_base`] its head,
/// [`Change::expecting`] it, [`Change::keeping_description`]) keeps every earlier write in the
/// same pull request, whose title and body stay those it was opened with; a stale append is
/// `Conflict` and changes nothing; a merge of another branch landing on the base meanwhile is
/// reverted neither by a later append nor by the batch's merge, which lands every write.
pub async fn batch_appends_on_its_head(forge: &dyn Forge) {
    let env = env_name(&unique("batch"));
    let branch = batch_branch(&env);
    assert_eq!(batch_of_branch(&branch), Some(env.clone()));
    assert_eq!(pair_of_branch(&branch), None, "never a pair's branch");
    assert_eq!(promotion_of_branch(&branch), None, "never a promotion's");
    let [a, b, c] = ["alpha", "beta", "gamma"].map(|m| format!("deployments/{env}/{m}.json"));

    let fresh = forge
        .branch_state(&branch, Some(&a), true)
        .await
        .expect("state");
    assert_eq!(fresh.expected, BranchHead::Absent);
    let first = forge
        .propose(
            &Change::for_branch(
                &branch,
                "Batch",
                "the batch",
                vec![FileWrite::put(&a, "a1\n")],
            )
            .judged_against(&fresh)
            .on_base(base_sha(forge).await, None),
        )
        .await
        .expect("open the batch");
    let second = forge
        .propose(&append(
            &branch,
            &first,
            "add beta",
            vec![FileWrite::put(&b, "b1\n")],
        ))
        .await
        .expect("append beta");
    assert_eq!(second.number, first.number, "one pull request per batch");
    let read = forge.pull_request(second.number).await.expect("pr");
    assert_eq!(
        (read.title.as_str(), read.body.as_str(), read.state),
        ("Batch", "the batch", PrState::Open),
        "an append keeps the batch's description"
    );
    assert_eq!(read.head_sha, second.head_sha);
    assert_eq!(
        forge.changed_files(second.number).await.expect("files"),
        vec![a.clone(), b.clone()],
        "the earlier write stays"
    );
    let pending = forge
        .branch_state(&branch, Some(&a), true)
        .await
        .expect("state");
    assert_eq!(pending.pending.as_deref(), Some(&b"a1\n"[..]));

    // Stale: appended on the first head, which the second append moved.
    let stale = forge
        .propose(&append(
            &branch,
            &first,
            "stale",
            vec![FileWrite::put(&c, "stale\n")],
        ))
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    assert_eq!(
        branch_head(forge.read_tree(&branch).await),
        Some(second.head_sha.clone()),
        "a lost race changes nothing"
    );

    // Another branch merges on the base while the batch is open.
    let elsewhere = format!("deployments/{env}/delta.json");
    let other = forge
        .propose(&Change::for_branch(
            format!("elsewhere/{env}"),
            "elsewhere",
            "another branch",
            vec![FileWrite::put(&elsewhere, "d1\n")],
        ))
        .await
        .expect("another branch");
    let landed = forge
        .merge(other.number, &other.head_sha)
        .await
        .expect("merge the other branch");
    let third = forge
        .propose(&append(
            &branch,
            &second,
            "add gamma",
            vec![FileWrite::put(&c, "c1\n"), FileWrite::put(&a, "a2\n")],
        ))
        .await
        .expect("append gamma, replace alpha");
    assert_eq!(
        forge.changed_files(third.number).await.expect("files"),
        vec![a.clone(), b.clone(), c.clone()],
        "the other branch's merge is not part of the batch"
    );
    let merged = forge
        .merge(third.number, &third.head_sha)
        .await
        .expect("merge the batch");
    let tree = forge.read_tree(merged.as_str()).await.expect("the merge");
    for (path, content) in [
        (&a, "a2\n"),
        (&b, "b1\n"),
        (&c, "c1\n"),
        (&elsewhere, "d1\n"),
    ] {
        assert_eq!(
            tree.files.get(path).map(Vec::as_slice),
            Some(content.as_bytes()),
            "{path} after the batch merged (the other merge was {landed})"
        );
    }
    let after = forge
        .branch_state(&branch, Some(&a), true)
        .await
        .expect("state");
    assert_eq!(
        (after.pull_request, after.pending),
        (None, None),
        "merged: nothing pending"
    );
}
