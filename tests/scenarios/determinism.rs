//! One seed reproduces one run bit for bit: same seed, same trace hash; another seed, another.
//! On a mismatch the failure names the first trace event where the two runs part.

use crate::common;

use sim::trace_view::first_difference;

#[test]
fn same_seed_same_trace_and_another_seed_another() {
    let first = sim::run(common::scenario("smoke"), 11);
    let second = sim::run(common::scenario("smoke"), 11);
    let (a, b) = (
        first.simulation.world.trace.borrow(),
        second.simulation.world.trace.borrow(),
    );
    if let Some(difference) = first_difference(a.events(), b.events()) {
        panic!("seed 11 is not reproducible: {difference}");
    }
    assert_eq!(a.hash_hex(), b.hash_hex());
    assert!(
        a.len() > 500,
        "the trace records the run ({} events)",
        a.len()
    );

    let other = sim::run(common::scenario("smoke"), 12);
    assert_ne!(
        other.simulation.world.trace.borrow().hash_hex(),
        a.hash_hex(),
        "seed 12 differs from seed 11"
    );
}
