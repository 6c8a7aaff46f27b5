"""The reference: a naive loader that writes one record per call after a lookup query.

This is the pattern of hosted destinations that sync row by row: for each record, a SOQL query
finds the record by its external id, then one call creates it (POST) or updates it (PATCH).
Two API calls per record. Records are sent by ``--concurrency`` threads (the same 8 as our
target gets in the suite, so only the API pattern differs)::

    .venv/bin/python benchmarks/naive_client.py --base-url URL --input contacts-10000.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).parent))
import workload

API = "/services/data/v62.0"
FIELDS = {
    "ref": "External_Id__c",
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "phone": "Phone",
    "birthdate": "Birthdate",
    "total_orders": "Total_Orders__c",
    "mailing_latitude": "MailingLatitude",
    "do_not_call": "DoNotCall",
}


def token(base_url: str) -> str:
    """An access token from the refresh-token flow."""
    response = requests.post(
        f"{base_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def records(path: Path) -> list[dict[str, Any]]:
    """The RECORD messages' records of a benchmark input file."""
    out = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            message = json.loads(line, parse_float=Decimal)
            if message.get("type") == "RECORD":
                out.append(message["record"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    bearer = {"Authorization": f"Bearer {token(args.base_url)}"}
    local = threading.local()
    failures = 0
    lock = threading.Lock()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(bearer)
        return local.session  # type: ignore[no-any-return]

    def write(record: dict[str, Any]) -> None:
        nonlocal failures
        http = session()
        ref = str(record["ref"]).replace("'", "\\'")
        found = http.get(
            f"{args.base_url}{API}/query",
            params={"q": f"SELECT Id FROM {workload.SOBJECT} WHERE External_Id__c = '{ref}'"},
            timeout=60,
        ).json()["records"]
        # The only non-JSON values in the input are Decimals (the numbers).
        body = json.dumps({FIELDS[k]: v for k, v in record.items() if k in FIELDS}, default=float)
        url = f"{args.base_url}{API}/sobjects/{workload.SOBJECT}"
        headers = {"Content-Type": "application/json"}
        if found:
            response = http.patch(f"{url}/{found[0]['Id']}", data=body, headers=headers, timeout=60)
        else:
            response = http.post(url, data=body, headers=headers, timeout=60)
        if response.status_code >= 300:
            with lock:
                failures += 1

    with ThreadPoolExecutor(args.concurrency) as pool:
        for _ in pool.map(write, records(args.input)):
            pass
    print(json.dumps({"failures": failures}))


if __name__ == "__main__":
    main()
