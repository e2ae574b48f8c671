//! Property: any order of commits leaves the maximum sequence live and history = the
//! successful commits, ascending (fake and SQLite).

use gitops_db_registry::conformance::any_order_leaves_max_live;
use gitops_db_registry::{FakeRegistry, Registry, SqliteRegistry};
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn check(registry: &dyn Registry, sequences: &[u64]) {
    runtime().block_on(any_order_leaves_max_live(registry, sequences));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fake_any_order(sequences in prop::collection::vec(1u64..40, 1..24)) {
        check(&FakeRegistry::new(), &sequences);
    }

    #[test]
    fn sqlite_any_order(sequences in prop::collection::vec(1u64..40, 1..24)) {
        check(&SqliteRegistry::open_in_memory().unwrap(), &sequences);
    }
}

/// Every permutation of 1..=5 on one registry (each in its own environment).
#[test]
fn every_permutation_of_five() {
    fn permutations(items: &[u64]) -> Vec<Vec<u64>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for (i, &first) in items.iter().enumerate() {
            let mut rest = items.to_vec();
            rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }
    let registry = SqliteRegistry::open_in_memory().unwrap();
    let all = permutations(&[1, 2, 3, 4, 5]);
    assert_eq!(all.len(), 120);
    for order in all {
        check(&registry, &order);
    }
}
