//! Merging sorted runs: every data file this store writes holds one record per key, sorted by
//! key, so merge-on-read and compaction walk the files' key order together (a k-way merge)
//! instead of gathering every record and sorting. Files that are not sorted (never written by
//! this store, but readable) fall back to a sort, with the same result.

use std::cmp::Ordering;

use super::decode::Run;

/// A record of a run: (run index, record index in the run).
pub(crate) type RecordId = (usize, usize);

/// Calls `group` once per distinct key of `runs`, in ascending key order, with that key's
/// records ordered by sequence number ascending (ties: earlier run first).
///
/// # Panics
/// If a merge below hands out a key twice or out of order, or a group that mixes keys or
/// sequence order: merge-on-read and compaction would then yield two rows for one key.
pub(crate) fn for_each_key(runs: &[Run], mut group: impl FnMut(&[RecordId])) {
    let mut previous: Option<RecordId> = None;
    let mut group = |ids: &[RecordId]| {
        let (&first, rest) = ids.split_first().expect("a key has records");
        assert!(
            previous.is_none_or(|p| compare(runs, p, first).is_lt()),
            "merged keys must strictly ascend"
        );
        let mut last = first;
        for &id in rest {
            assert!(
                compare(runs, last, id).is_eq() && sequence(runs, last) <= sequence(runs, id),
                "a key's records must share the key and ascend by sequence number"
            );
            last = id;
        }
        previous = Some(first);
        group(ids)
    };
    if runs.iter().all(Run::is_sorted_by_key) {
        if runs.iter().all(|run| run.keys.len() == 1) {
            merge_sorted_single_column(runs, group);
        } else {
            merge_sorted_runs(runs, group);
        }
        return;
    }
    let mut ids: Vec<RecordId> = runs
        .iter()
        .enumerate()
        .flat_map(|(r, run)| (0..run.len()).map(move |i| (r, i)))
        .collect();
    ids.sort_by(|&a, &b| {
        compare(runs, a, b).then_with(|| sequence(runs, a).cmp(&sequence(runs, b)))
    });
    let mut start = 0;
    while start < ids.len() {
        let end = start
            + ids[start..].partition_point(|&id| compare(runs, ids[start], id) == Ordering::Equal);
        group(&ids[start..end]);
        start = end;
    }
}

fn compare(runs: &[Run], (ra, ia): RecordId, (rb, ib): RecordId) -> Ordering {
    runs[ra].cmp_key(ia, &runs[rb], ib)
}

fn sequence(runs: &[Run], (r, i): RecordId) -> i64 {
    runs[r].sequence_number(i)
}

/// The k-way merge over runs each sorted by key with distinct keys. Runs are few (bounded by
/// the stop trigger and the level count), so a linear scan for the smallest head beats a heap.
fn merge_sorted_runs(runs: &[Run], mut group: impl FnMut(&[RecordId])) {
    let mut heads: Vec<RecordId> = runs
        .iter()
        .enumerate()
        .filter(|(_, run)| run.len() > 0)
        .map(|(r, _)| (r, 0))
        .collect();
    let mut current: Vec<RecordId> = Vec::with_capacity(heads.len());
    let mut positions: Vec<usize> = Vec::with_capacity(heads.len());
    while !heads.is_empty() {
        let mut smallest = heads[0];
        for &head in &heads[1..] {
            if compare(runs, head, smallest) == Ordering::Less {
                smallest = head;
            }
        }
        current.clear();
        positions.clear();
        for (p, &head) in heads.iter().enumerate() {
            if compare(runs, head, smallest) == Ordering::Equal {
                current.push(head);
                positions.push(p);
            }
        }
        if current.len() > 1 {
            current.sort_by_key(|&id| sequence(runs, id));
        }
        group(&current);
        for &p in &positions {
            heads[p].1 += 1;
        }
        heads.retain(|&(r, i)| i < runs[r].len());
    }
}

/// `merge_sorted_runs` for the common one-column key: compares plain integers, and passes a
/// stretch of keys only one run holds without looking at the other runs again.
fn merge_sorted_single_column(runs: &[Run], mut group: impl FnMut(&[RecordId])) {
    let keys: Vec<&[i64]> = runs.iter().map(|run| &run.keys[0].values()[..]).collect();
    let mut next = vec![0usize; runs.len()];
    let mut current: Vec<RecordId> = Vec::with_capacity(runs.len());
    loop {
        // The smallest head (first run holding it) and the smallest head of any other run.
        let mut smallest: Option<(i64, usize)> = None;
        let mut second: Option<i64> = None;
        for (r, (column, &i)) in keys.iter().zip(&next).enumerate() {
            let Some(&key) = column.get(i) else {
                continue;
            };
            match smallest {
                Some((s, _)) if key >= s => {
                    second = Some(second.map_or(key, |t| t.min(key)));
                }
                _ => {
                    if let Some((s, _)) = smallest {
                        second = Some(second.map_or(s, |t| t.min(s)));
                    }
                    smallest = Some((key, r));
                }
            }
        }
        let Some((smallest, first_run)) = smallest else {
            return;
        };
        if second.is_none_or(|second| second > smallest) {
            // Only `first_run` holds keys below `second`: one record per key, no other run.
            let column = keys[first_run];
            let mut i = next[first_run];
            while let Some(&key) = column.get(i) {
                if second.is_some_and(|second| key >= second) {
                    break;
                }
                group(&[(first_run, i)]);
                i += 1;
            }
            next[first_run] = i;
            continue;
        }
        current.clear();
        for (r, (column, i)) in keys.iter().zip(&mut next).enumerate() {
            if column.get(*i) == Some(&smallest) {
                current.push((r, *i));
                *i += 1;
            }
        }
        if current.len() > 1 {
            current.sort_by_key(|&id| sequence(runs, id));
        }
        group(&current);
    }
}
