"""One process of a connection storm: `python -m bench.stormworker URL JOBS_JSON THREADS`.

Each job is (token, topic): a new client (its own connection, so its own authentication) creates a
producer on the topic (lookup + produce authorization) and sends one message, as an application that
comes back after its broker restarted. Like an application, it asks again after what Pulsar reports as
retriable (a timeout, a connect error, a broker not ready yet: 0.2 s backoff doubling to 1 s) and stops
at `AuthorizationError`, which no Pulsar client retries: that client is refused for good. Prints one JSON
line: per job the outcome (produced, refused, gave_up), the attempts and seconds it took and when it
finished (`time.monotonic()`, one clock for every process on the machine). Bounded: every call has a 30 s
operation timeout and a job gives up after GIVE_UP_SECONDS.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pulsar

GIVE_UP_SECONDS = 300.0
PRODUCED, REFUSED, GAVE_UP = "produced", "refused", "gave_up"


def one(url: str, token: str, topic: str) -> dict[str, object]:
    began = time.monotonic()
    client = pulsar.Client(
        url,
        authentication=pulsar.AuthenticationToken(token),
        operation_timeout_seconds=30,
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error),
    )
    attempts, pause, retried = 0, 0.2, []
    outcome = GAVE_UP
    try:
        while time.monotonic() - began < GIVE_UP_SECONDS:
            attempts += 1
            try:
                producer = client.create_producer(topic)
                producer.send(b"back")
                producer.close()
                outcome = PRODUCED
                break
            except pulsar.AuthorizationError:
                outcome = REFUSED
                break
            except Exception as error:  # retriable for a Pulsar client: ask again, as an application would
                retried.append(type(error).__name__)
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
    finally:
        client.close()
    done = time.monotonic()
    return {
        "outcome": outcome,
        "attempts": attempts,
        "seconds": done - began,
        "done_at": done,
        "retried": retried,
    }


def main() -> None:
    url, jobs_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(jobs_file) as f:
        jobs = json.load(f)
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda job: one(url, job[0], job[1]), jobs))
    print(json.dumps({"jobs": results}))


if __name__ == "__main__":
    main()
