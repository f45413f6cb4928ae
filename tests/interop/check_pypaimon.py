#!/usr/bin/env python3
"""Interop check: a Paimon reader nobody here wrote (pypaimon) opens the tables a dwsim run
leaves and must see exactly what dwsim's own reader sees.

It runs `dwsim run smoke --seed 1 --out DIR` (or reuses DIR from an earlier run), opens
DIR/warehouse as a pypaimon filesystem catalog, reads the DWD and DWS tables at the latest
snapshot and at one earlier snapshot (time travel by snapshot id), and compares them row for
row with `dwsim table scan` and, for DWS at the latest snapshot, with DIR/export/dws.parquet.
Exits non-zero with a readable diff on any mismatch.

With `--set KEY=VALUE` (repeatable, as `dwsim run --set` takes it) the run uses those options,
e.g. `--set dwd.partition.timestamp-formatter=yyyyMMddHH` for a DWD table partitioned by hour.

Usage: check_pypaimon.py --dwsim target/release/dwsim [--out DIR] [--seed N] [--set KEY=VALUE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import pyarrow.parquet as pq
from pypaimon import CatalogFactory

TABLES = ["ads.dwd_ad_events", "ads.dws_ad_minute"]
DIFF_LINES_MAX = 10


def run_dwsim(dwsim, out_dir, seed, sets):
    if os.path.exists(os.path.join(out_dir, "summary.json")):
        print(f"reusing the run in {out_dir}")
        return
    cmd = [dwsim, "run", "smoke", "--seed", str(seed), "--out", out_dir]
    for option in sets:
        cmd += ["--set", option]
    print("running:", " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"dwsim run failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def snapshot_ids(table_dir):
    snapshot_dir = os.path.join(table_dir, "snapshot")
    ids = sorted(
        int(name[len("snapshot-"):])
        for name in os.listdir(snapshot_dir)
        if name.startswith("snapshot-")
    )
    if not ids:
        sys.exit(f"{snapshot_dir} holds no snapshot")
    return ids


def dwsim_scan(dwsim, warehouse, table, snapshot_id):
    cmd = [dwsim, "table", "scan", warehouse, table, "--snapshot", str(snapshot_id)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def pypaimon_rows(catalog, table_name, snapshot_id):
    table = catalog.get_table(table_name)
    table = table.copy({"scan.snapshot-id": str(snapshot_id)})
    read_builder = table.new_read_builder()
    splits = read_builder.new_scan().plan().splits()
    frame = read_builder.new_read().to_pandas(splits)
    return frame.to_dict(orient="records"), table


def misplaced_keys(table):
    """Keys whose bucket (as pypaimon's fixed-bucket writer would assign it) is not the bucket
    dwsim stored them in; a Paimon writer continuing the table needs the two to agree."""
    # pypaimon's own bucket function (a private module of its writer): Paimon's murmur hash of
    # the bucket key's BinaryRow, modulo the bucket count.
    from pypaimon.write.row_key_extractor import FixedBucketRowKeyExtractor
    extractor = FixedBucketRowKeyExtractor(table.table_schema)
    read_builder = table.new_read_builder()
    wrong = []
    for split in read_builder.new_scan().plan().splits():
        for row in read_builder.new_read().to_pandas([split]).to_dict(orient="records"):
            bucket = extractor._extract_bucket_row(row)
            if bucket != split.bucket:
                key = tuple(row[k] for k in table.table_schema.primary_keys)
                wrong.append(f"{key}: stored in bucket {split.bucket}, Paimon assigns {bucket}")
    return wrong


def keyed(rows, fields, primary_keys):
    """Rows as {primary key tuple: row tuple in field order}; plain Python ints and strings."""
    result = {}
    for row in rows:
        values = tuple(
            int(row[f]) if not isinstance(row[f], str) else row[f] for f in fields
        )
        key = tuple(values[fields.index(k)] for k in primary_keys)
        if key in result:
            sys.exit(f"duplicate primary key {key} in one reader's output")
        result[key] = values
    return result


def diff(label_a, a, label_b, b, fields):
    """A readable diff of two keyed row sets, or None when equal."""
    if a == b:
        return None
    lines = [f"{label_a}: {len(a)} rows, {label_b}: {len(b)} rows; fields {fields}"]
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    for name, keys, show in [
        (f"only in {label_a}", only_a, lambda k: a[k]),
        (f"only in {label_b}", only_b, lambda k: b[k]),
        ("different", changed, lambda k: f"{label_a} {a[k]} != {label_b} {b[k]}"),
    ]:
        if keys:
            lines.append(f"  {len(keys)} keys {name}:")
            lines.extend(f"    {k}: {show(k)}" for k in keys[:DIFF_LINES_MAX])
            if len(keys) > DIFF_LINES_MAX:
                lines.append(f"    ... and {len(keys) - DIFF_LINES_MAX} more")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dwsim", required=True, help="path of the dwsim binary")
    parser.add_argument("--out", help="run output directory (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an option for the run, as `dwsim run --set` takes it; repeatable")
    args = parser.parse_args()

    out_dir = args.out or tempfile.mkdtemp(prefix="dwsim-interop-")
    run_dwsim(args.dwsim, out_dir, args.seed, args.set)
    warehouse = os.path.join(out_dir, "warehouse")
    catalog = CatalogFactory.create({"warehouse": warehouse})

    passed, failures = 0, []

    def check(label, problem):
        nonlocal passed
        if problem is None:
            passed += 1
            print(f"PASS {label}")
        else:
            failures.append(label)
            print(f"FAIL {label}\n{problem}")

    for table_name in TABLES:
        db, name = table_name.split(".")
        ids = snapshot_ids(os.path.join(warehouse, f"{db}.db", name))
        latest, earlier = ids[-1], ids[len(ids) // 2]
        seen = {}
        for snapshot_id in [latest, earlier]:
            rows, table = pypaimon_rows(catalog, table_name, snapshot_id)
            fields = [f.name for f in table.table_schema.fields]
            primary_keys = list(table.table_schema.primary_keys)
            theirs = keyed(rows, fields, primary_keys)
            ours = keyed(dwsim_scan(args.dwsim, warehouse, table_name, snapshot_id), fields,
                         primary_keys)
            seen[snapshot_id] = theirs
            which = "latest" if snapshot_id == latest else "time travel"
            check(f"{table_name} snapshot {snapshot_id} ({which}): pypaimon {len(theirs)} rows "
                  f"== dwsim table scan {len(ours)} rows",
                  diff("pypaimon", theirs, "dwsim", ours, fields))
            if table_name == "ads.dws_ad_minute" and snapshot_id == latest:
                export = pq.read_table(os.path.join(out_dir, "export", "dws.parquet"))
                exported = keyed(export.to_pylist(), fields, primary_keys)
                check(f"{table_name} snapshot {snapshot_id}: pypaimon == export/dws.parquet "
                      f"({len(exported)} rows)",
                      diff("pypaimon", theirs, "export/dws.parquet", exported, fields))
        wrong = misplaced_keys(catalog.get_table(table_name))
        check(f"{table_name}: every key is in the bucket Paimon's bucket function assigns",
              None if not wrong else "\n".join(wrong[:DIFF_LINES_MAX] +
                                                [f"({len(wrong)} keys in all)"]))
        # Time travel must see an older table, or it proves nothing.
        changed = sum(1 for k, v in seen[latest].items() if seen[earlier].get(k) != v)
        check(f"{table_name}: time travel sees an older table (snapshot {earlier} has "
              f"{len(seen[earlier])} rows, {changed} rows of snapshot {latest} differ from it)",
              None if changed else "snapshots hold the same rows; pick another snapshot")

    print(f"interop: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
