"""DuckDB side of the trail benchmark: answer "which secrets did entity E read since T,
how many times" straight from the Vault audit log (read_ndjson), N times; print JSON
with the median seconds and the answer, for bench/src/bin/trail.rs to compare."""

import json
import statistics
import sys
import time

import duckdb


def main() -> None:
    path, entity, since, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    con = duckdb.connect()
    sql = """
        SELECT regexp_replace(request.path, '^secret/data/', 'secret/') AS secret, count(*) AS n
        FROM read_ndjson(?, columns = {
            'time': 'VARCHAR', 'type': 'VARCHAR',
            'auth': 'STRUCT(entity_id VARCHAR)',
            'request': 'STRUCT(operation VARCHAR, path VARCHAR)'
        })
        WHERE type = 'response' AND auth.entity_id = ? AND request.operation = 'read'
          AND time >= ?
        GROUP BY 1 ORDER BY 1
    """
    times = []
    rows = []
    for _ in range(repeat):
        start = time.perf_counter()
        rows = con.execute(sql, [path, entity, since]).fetchall()
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_s": statistics.median(times), "times_s": times,
                      "secrets": len(rows), "reads": sum(n for _, n in rows)}))


if __name__ == "__main__":
    main()
