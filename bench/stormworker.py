"""One process of a connection storm: `python -m bench.stormworker URL JOBS_JSON THREADS`.

Each job is (token, topic): a new client (its own connection, so its own authentication), a producer on
the topic (lookup + produce authorization), then close. Prints one JSON line: per-job seconds and
failures. Bounded: every call has a 30 s operation timeout.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pulsar


def one(url: str, token: str, topic: str) -> tuple[float, str]:
    began = time.monotonic()
    client = pulsar.Client(
        url,
        authentication=pulsar.AuthenticationToken(token),
        operation_timeout_seconds=30,
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error),
    )
    try:
        client.create_producer(topic).close()
        return time.monotonic() - began, ""
    except Exception as error:  # a failed client is reported, not fatal
        return time.monotonic() - began, type(error).__name__
    finally:
        client.close()


def main() -> None:
    url, jobs_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(jobs_file) as f:
        jobs = json.load(f)
    began = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda job: one(url, job[0], job[1]), jobs))
    print(
        json.dumps(
            {
                "seconds": [r[0] for r in results],
                "errors": [r[1] for r in results if r[1]],
                "wall": time.monotonic() - began,
            }
        )
    )


if __name__ == "__main__":
    main()
