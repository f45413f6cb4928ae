//! The TT era's end checker must catch a store that is wrong after the last batch correction:
//! after a clean run, one store's log gains a real-time put of a row the batch has not corrected
//! yet (a minute past every period) and an overwrite that empties a period; the checker re-run
//! must name that store, and leave the others passing.

use crate::check::{CheckerName, recheck, run};
use crate::tests::shipped;

#[test]
fn a_store_wrong_after_the_last_correction_fails_exactly_once() {
    let mut checked = run(shipped("tt-era-smoke"), 1);
    assert!(
        checked.checks.exactly_once.violations.is_empty(),
        "clean run: {:?}",
        checked.checks.exactly_once.violations
    );
    let tt_era = checked
        .checks
        .pipeline
        .tt_era
        .clone()
        .expect("tt-era figures");
    assert!(tt_era.stores.iter().all(|s| s.rows_wrong_at_end == 0));
    {
        let world = &checked.simulation.world;
        let epoch_ms = world.scenario.run.epoch_ms;
        let mut observed = world.observed.tt_era.borrow_mut();
        let appends = observed
            .store_appends
            .get_mut("bi-store")
            .expect("bi-store wrote");
        // A period the batch has written: emptied, as a lost overwrite would leave it.
        appends.push((
            1,
            format!("O {epoch_ms} {epoch_ms} {} 0\n", epoch_ms + 60_000).into_bytes(),
        ));
    }
    recheck(&mut checked);
    let violations = &checked.checks.exactly_once.violations;
    assert_eq!(violations.len(), 1, "{violations:?}");
    let violation = &violations[0];
    assert_eq!(violation.checker, CheckerName::ExactlyOnce);
    assert!(violation.at.starts_with("bi-store"), "{violation:?}");
    assert!(
        violation
            .message
            .contains("rows differ from the ground truth"),
        "{violation:?}"
    );
}
