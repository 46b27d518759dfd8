"""Reads a Delta table with delta-rs (deltalake) and prints what it sees as
JSON: version, row count, active files (relative to the table, sorted),
column names and, with --app-id, that application's txn version.

usage: delta_rs_read.py TABLE [--version V] [--app-id APP]
"""
import argparse
import json
import os
import sys

from deltalake import DeltaTable


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--version", type=int)
    ap.add_argument("--app-id")
    args = ap.parse_args()
    root = os.path.abspath(args.table)
    dt = DeltaTable(root, version=args.version)
    data = dt.to_pyarrow_table()
    out = {
        "version": dt.version(),
        "rows": data.num_rows,
        "files": sorted(os.path.relpath(u.removeprefix("file://"), root) for u in dt.file_uris()),
        "columns": data.column_names,
    }
    if args.app_id:
        out["txn"] = dt.transaction_version(args.app_id)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
    # delta-rs's runtime threads can abort the interpreter's shutdown
    # ("terminate called without an active exception", seen in CI): leave
    # at once, output flushed.
    sys.stdout.flush()
    os._exit(0)
