"""Dead-letter queues, for operators: count them, move them back for another try.

    python -m common.dlq list                 # every known consumer's dead letters
    python -m common.dlq replay               # replay all of them
    python -m common.dlq replay ingest.whatsapp-messages --limit 10

Consumers are found through the `whatsapp_ai.consumers` entry points of the installed
services (each names a function of the service's composition root that returns the consumer
names of the subscriptions its runtime makes); the broker and prefix come from AMQP_URL and
BUS_PREFIX.
"""

import argparse
import asyncio
import sys
from importlib.metadata import entry_points

from common.bus import Bus
from common.settings import CommonSettings


def known_consumers() -> list[str]:
    names: list[str] = []
    for entry in entry_points(group="whatsapp_ai.consumers"):
        declared = entry.load()
        # A function (the composition root's `consumer_names`), or a plain list of names.
        names.extend(declared() if callable(declared) else declared)
    return sorted(set(names))


async def run(command: str, consumers: list[str], limit: int | None) -> int:
    settings = CommonSettings(service_name="dlq-cli")
    bus = Bus(
        settings.amqp_url,
        prefix=settings.bus_prefix,
        service="dlq-cli",
        quorum_queues=settings.bus_quorum_queues,
        queue_expires_ms=settings.bus_queue_expires_ms,
    )
    await bus.connect()
    try:
        for consumer in consumers or known_consumers():
            if command == "list":
                print(f"{consumer}\t{await bus.dead_letter_count(consumer)}")
            else:
                moved = await bus.replay_dead_letters(consumer, limit=limit)
                print(f"{consumer}\treplayed {moved}")
    finally:
        await bus.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.dlq",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("consumers", nargs="*", help="consumer names (default: all known)")
    parser.add_argument("--limit", type=int, default=None, help="replay at most N per consumer")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.command, args.consumers, args.limit))


if __name__ == "__main__":
    sys.exit(main())
