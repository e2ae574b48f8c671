//! A proposal made from a checkout that a merge has since left behind (a process job cloned
//! before another pair's PR merged) never reverts that merge.

use super::{base_sha, change, mfe_file, unique};
use crate::{BranchHead, Forge};

/// Pair A proposes, pair B merges, A's open PR is replaced from the newer base, then again
/// from a checkout of the OLD base (its `base_sha`): the replacing PR's diff is A's file alone
/// and merging it keeps B's change.
pub async fn a_stale_checkout_never_reverts_a_merge(forge: &dyn Forge) {
    let env = "conf";
    let (a, b) = (unique("stalea"), unique("staleb"));
    let (file_a, file_b) = (mfe_file(env, &a), mfe_file(env, &b));
    let old = base_sha(forge).await;
    let with = |mfe: &str, base, file: &str, content: &str, expected| {
        let mut c = change(
            env,
            mfe,
            Some(base),
            vec![crate::FileWrite::put(file, content)],
            content,
        );
        c.expected = Some(expected);
        c
    };
    let a1 = forge
        .propose(&with(&a, old.clone(), &file_a, "a1", BranchHead::Absent))
        .await
        .expect("propose a1");
    let b1 = forge
        .propose(&with(&b, old.clone(), &file_b, "b1", BranchHead::Absent))
        .await
        .expect("propose b1");
    forge
        .merge(b1.number, &b1.head_sha)
        .await
        .expect("merge b1");
    let new = base_sha(forge).await;
    assert_ne!(new, old);
    let a2 = forge
        .propose(&with(
            &a,
            new,
            &file_a,
            "a2",
            BranchHead::At(a1.head_sha.clone()),
        ))
        .await
        .expect("propose a2 from the new base");
    // A job whose checkout is still the old base replaces a2.
    let a3 = forge
        .propose(&with(
            &a,
            old,
            &file_a,
            "a3",
            BranchHead::At(a2.head_sha.clone()),
        ))
        .await
        .expect("propose a3 from the old checkout");
    assert_eq!(a3.number, a1.number, "the open PR is kept");
    assert_eq!(
        forge.changed_files(a3.number).await.expect("changed files"),
        std::slice::from_ref(&file_a),
        "the replacing PR changes A's file alone (it reverts nothing)"
    );
    forge
        .merge(a3.number, &a3.head_sha)
        .await
        .expect("merge a3");
    let main = forge.read_tree(forge.base_branch()).await.expect("base");
    assert_eq!(main.files.get(&file_a).map(Vec::as_slice), Some(&b"a3"[..]));
    assert_eq!(main.files.get(&file_b).map(Vec::as_slice), Some(&b"b1"[..]));
}
