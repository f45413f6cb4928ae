//! Tests of the Avro manifest encoding: Paimon's binary rows and bucket hashing, round trips,
//! determinism and corrupt input.

use proptest::prelude::*;

use super::*;

fn file(name: &str, min_key: Key, max_key: Key, level: u32, source: &str) -> DataFileMeta {
    DataFileMeta {
        file_name: name.to_string(),
        file_size: 1234,
        row_count: 10,
        min_key,
        max_key,
        min_sequence_number: 3,
        max_sequence_number: 12,
        schema_id: 0,
        level,
        extra_files: vec!["index-1".into()],
        creation_time: 1_762_788_600_000,
        delete_row_count: 2,
        file_source: source.to_string(),
    }
}

#[test]
fn binary_row_matches_paimon_layout() {
    // Arity 0: the arity int and one word of header and null bits.
    assert_eq!(binary_row(&[]), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let row = binary_row(&[RowValue::Long(5), RowValue::Null]);
    assert_eq!(&row[..4], &[0, 0, 0, 2]);
    assert_eq!(row[4], 0, "row kind +I");
    assert_eq!(row[5], 0b10, "field 1 is null (bit 9 of the header word)");
    assert_eq!(&row[12..20], &5i64.to_le_bytes());
    let short = binary_row(&[RowValue::Str("click".into())]);
    assert_eq!(&short[12..17], b"click");
    assert_eq!(short[19], 0x80 | 5, "inline string mark and length");
    let long = binary_row(&[RowValue::Str("conversion".into())]);
    assert_eq!(long.len(), 4 + 16 + 16, "variable part padded to a word");
    assert_eq!(&long[12..20], &((16u64 << 32) | 10).to_le_bytes());
    assert_eq!(&long[20..30], b"conversion");
}

#[test]
fn manifest_round_trips_and_is_deterministic() {
    let symbols = FieldType::Enum(vec!["impression".into(), "conversion_event".into()]);
    let types = [&FieldType::BigInt, &symbols];
    let entries = vec![
        ManifestEntry {
            kind: FileKind::Add,
            partition: Vec::new(),
            bucket: 3,
            total_buckets: 4,
            file: file("data-a-0.parquet", vec![-7, 0], vec![99, 1], 0, "APPEND"),
        },
        ManifestEntry {
            kind: FileKind::Delete,
            partition: Vec::new(),
            bucket: 0,
            total_buckets: 4,
            file: file("data-b-1.parquet", vec![1, 1], vec![2, 0], 5, "COMPACT"),
        },
    ];
    let bytes = encode_manifest(&entries, &types, 0, "m").unwrap();
    assert_eq!(bytes, encode_manifest(&entries, &types, 0, "m").unwrap());
    assert_eq!(&bytes[..4], b"Obj\x01");
    assert_eq!(decode_manifest(&bytes, &types, 0, "m").unwrap(), entries);

    let metas = vec![ManifestFileMeta {
        file_name: "manifest-x-0".into(),
        file_size: bytes.len() as u64,
        num_added_files: 1,
        num_deleted_files: 1,
        schema_id: 0,
        min_bucket: Some(0),
        max_bucket: Some(3),
        min_level: Some(0),
        max_level: Some(5),
        min_partition: Vec::new(),
        max_partition: Vec::new(),
    }];
    let list = encode_manifest_list(&metas, 0, "l").unwrap();
    assert_eq!(decode_manifest_list(&list, 0, "l").unwrap(), metas);
    let empty = encode_manifest_list(&[], 0, "l").unwrap();
    assert!(decode_manifest_list(&empty, 0, "l").unwrap().is_empty());
}

#[test]
fn corrupt_manifest_is_an_error_naming_the_file() {
    let error = decode_manifest(b"not avro", &[&FieldType::BigInt], 0, "t/manifest/m-1");
    match error {
        Err(TableError::Corrupt { path, .. }) => assert_eq!(path, "t/manifest/m-1"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // A key row of the wrong arity is caught.
    let entry = ManifestEntry {
        kind: FileKind::Add,
        partition: Vec::new(),
        bucket: 0,
        total_buckets: 1,
        file: file("d", vec![1], vec![2], 0, "APPEND"),
    };
    let bytes = encode_manifest(&[entry], &[&FieldType::BigInt], 0, "m").unwrap();
    let two = [&FieldType::BigInt, &FieldType::BigInt];
    assert!(matches!(
        decode_manifest(&bytes, &two, 0, "m"),
        Err(TableError::Corrupt { .. })
    ));
}

/// An entry inconsistent in itself is corrupt when read and a bug when written.
#[test]
fn inconsistent_entries_are_corrupt_when_read() {
    let key_types = [&FieldType::BigInt];
    let good = ManifestEntry {
        kind: FileKind::Add,
        partition: Vec::new(),
        bucket: 0,
        total_buckets: 1,
        file: file("d", vec![1], vec![2], 0, "APPEND"),
    };
    let mut reversed = good.clone();
    reversed.file.min_sequence_number = reversed.file.max_sequence_number + 1;
    let mut keys_reversed = good.clone();
    keys_reversed.file.min_key = vec![3];
    let mut bucket_beyond = good.clone();
    bucket_beyond.bucket = 1;
    for (entry, reason) in [
        (reversed, "reversed"),
        (keys_reversed, "above max key"),
        (bucket_beyond, "bucket 1 of 1"),
    ] {
        let bytes = encode_manifest_unchecked(&[entry], &key_types, "m").unwrap();
        match decode_manifest(&bytes, &key_types, 0, "m") {
            Err(TableError::Corrupt { reason: got, .. }) => assert!(got.contains(reason), "{got}"),
            other => panic!("expected Corrupt ({reason}), got {other:?}"),
        }
    }
    let bytes = encode_manifest(std::slice::from_ref(&good), &key_types, 0, "m").unwrap();
    assert_eq!(
        decode_manifest(&bytes, &key_types, 0, "m").unwrap(),
        vec![good]
    );
}

#[test]
#[should_panic(expected = "writing an inconsistent manifest entry")]
fn writing_an_inconsistent_entry_is_a_bug() {
    let mut entry = ManifestEntry {
        kind: FileKind::Add,
        partition: Vec::new(),
        bucket: 0,
        total_buckets: 1,
        file: file("d", vec![1], vec![2], 0, "APPEND"),
    };
    entry.file.delete_row_count = entry.file.row_count + 1;
    let _ = encode_manifest(&[entry], &[&FieldType::BigInt], 0, "m");
}

#[test]
fn buckets_match_paimon() {
    // Expected values computed with pypaimon 2.1.0's fixed-bucket key extractor.
    let bigint = &FieldType::BigInt;
    assert_eq!(paimon_bucket(&[1], &[bigint], 4), 2);
    assert_eq!(paimon_bucket(&[123_456_789], &[bigint], 4), 1);
    assert_eq!(paimon_bucket(&[-5], &[bigint], 7), 5);
    let dws_key = [3, 1003, 1_762_788_600_000];
    assert_eq!(paimon_bucket(&dws_key, &[bigint; 3], 2), 1);
    let kind = FieldType::Enum(vec!["click".into(), "conversion".into()]);
    assert_eq!(paimon_bucket(&[42, 0], &[bigint, &kind], 5), 4);
    assert_eq!(paimon_bucket(&[42, 1], &[bigint, &kind], 5), 1);
}

proptest! {
    #[test]
    fn keys_round_trip(key in proptest::collection::vec(any::<i64>(), 1..5),
                       kind in 0u8..2, level in 0u32..6, bucket in 0u32..64) {
        let types: Vec<&FieldType> = key.iter().map(|_| &FieldType::BigInt).collect();
        let entry = ManifestEntry {
            kind: FileKind::try_from(kind).unwrap(),
            partition: Vec::new(),
            bucket,
            total_buckets: 64,
            file: file("f", key.clone(), key.iter().map(|k| k.wrapping_add(1)).collect(), level, "APPEND"),
        };
        let bytes = encode_manifest(std::slice::from_ref(&entry), &types, 0, "m").unwrap();
        prop_assert_eq!(decode_manifest(&bytes, &types, 0, "m").unwrap(), vec![entry]);
    }
}

/// A partitioned table's manifests carry each entry's partition as Paimon's `BinaryRow` (arity
/// big-endian, a header word, one little-endian slot per BIGINT), and the manifest list carries
/// each manifest's partition bounds; both read back as written.
#[test]
fn partitioned_entries_round_trip_with_paimon_partition_bytes() {
    assert_eq!(
        partition_row(&[2_026_111_100]),
        [
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x7C, 0x00, 0xC4, 0x78, 0, 0, 0, 0
        ]
    );
    assert_eq!(partition_row(&[]), [0u8; 12]);
    let types = [&FieldType::BigInt, &FieldType::BigInt];
    let entry = |hour: i64, bucket: u32| ManifestEntry {
        kind: FileKind::Add,
        partition: vec![hour],
        bucket,
        total_buckets: 2,
        file: file("d", vec![hour, 1], vec![hour, 9], 0, "APPEND"),
    };
    let entries = vec![entry(2_026_111_100, 0), entry(2_026_111_101, 1)];
    let bytes = encode_manifest(&entries, &types, 1, "m").unwrap();
    assert_eq!(decode_manifest(&bytes, &types, 1, "m").unwrap(), entries);
    // Read as an unpartitioned table's, the partition row has the wrong arity.
    assert!(matches!(
        decode_manifest(&bytes, &types, 0, "m"),
        Err(TableError::Corrupt { .. })
    ));
    let metas = vec![ManifestFileMeta {
        file_name: "manifest-p-0".into(),
        file_size: bytes.len() as u64,
        num_added_files: 2,
        num_deleted_files: 0,
        schema_id: 0,
        min_bucket: Some(0),
        max_bucket: Some(1),
        min_level: Some(0),
        max_level: Some(0),
        min_partition: vec![2_026_111_100],
        max_partition: vec![2_026_111_101],
    }];
    let list = encode_manifest_list(&metas, 1, "l").unwrap();
    assert_eq!(decode_manifest_list(&list, 1, "l").unwrap(), metas);
}
