"""Run every scim2-tester check against a SCIM server and print each result as one
JSON line: {"status", "title", "reason", "resource_type", "tags"}.

    python tests/scim/check_server.py BASE_URL        (token in SCIM_TEST_TOKEN)

Exits 0 when the checks ran (whatever their results: the caller judges them), 2 when
the tools are missing or the run itself broke.
"""

import json
import os
import sys

try:
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server
except ImportError as exc:  # pragma: no cover - reported to the Rust test
    print(f"scim2-tester is not installed ({exc}): run scripts/test.sh", file=sys.stderr)
    sys.exit(2)


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: check_server.py BASE_URL", file=sys.stderr)
        return 2
    headers = {}
    token = os.environ.get("SCIM_TEST_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx2.Client(base_url=sys.argv[1], headers=headers, timeout=30) as http:
        client = SyncSCIMClient(http)
        results = check_server(client)
    for result in results:
        print(
            json.dumps(
                {
                    "status": result.status.name,
                    "title": result.title,
                    "reason": result.reason,
                    "resource_type": result.resource_type,
                    "tags": sorted(result.tags or []),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
