//! How much Parquet work this thread did: files and values encoded and decoded, so `dwsim
//! bench` can say what arrow-rs alone needs for a run's files (its Parquet floor). Counted,
//! never timed: a count is the same in every run of a seed, and no simulated path reads the
//! real clock. The counts never reach the table store's behaviour.

use std::cell::Cell;

/// Parquet work done on one thread since the last [`take`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParquetWork {
    pub files_encoded: u64,
    /// Values handed to the Parquet writer: rows times columns, the `_KEY_` copies, sequence
    /// numbers and row kinds included.
    pub values_encoded: u64,
    /// Files (or decodes of a file) opened for reading.
    pub files_decoded: u64,
    /// Values the Parquet reader produced: rows times the columns read.
    pub values_decoded: u64,
}

thread_local! {
    static WORK: Cell<ParquetWork> = const { Cell::new(ParquetWork {
        files_encoded: 0,
        values_encoded: 0,
        files_decoded: 0,
        values_decoded: 0,
    }) };
}

fn add(change: impl FnOnce(&mut ParquetWork)) {
    WORK.with(|work| {
        let mut counts = work.get();
        change(&mut counts);
        work.set(counts);
    });
}

/// A Parquet file was encoded (its values are counted batch by batch).
pub fn count_file_encoded() {
    add(|work| work.files_encoded += 1);
}

/// A batch of `rows` rows of `columns` columns went to a Parquet writer.
pub fn count_values_encoded(rows: usize, columns: usize) {
    add(|work| work.values_encoded += (rows * columns) as u64);
}

/// A Parquet file was opened for decoding (its values are counted batch by batch).
pub fn count_file_decoded() {
    add(|work| work.files_decoded += 1);
}

/// A Parquet reader produced a batch of `rows` rows of `columns` columns.
pub fn count_values_decoded(rows: usize, columns: usize) {
    add(|work| work.values_decoded += (rows * columns) as u64);
}

/// This thread's counts since the last call, which start again from zero.
pub fn take() -> ParquetWork {
    WORK.with(|work| work.replace(ParquetWork::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_returns_the_counts_since_the_last_take() {
        let _ = take();
        count_file_encoded();
        count_values_encoded(3, 4);
        count_values_encoded(2, 4);
        count_file_decoded();
        count_values_decoded(5, 2);
        assert_eq!(
            take(),
            ParquetWork {
                files_encoded: 1,
                values_encoded: 20,
                files_decoded: 1,
                values_decoded: 10,
            }
        );
        assert_eq!(take(), ParquetWork::default());
    }
}
