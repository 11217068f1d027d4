"""The Bot API client's cost: python-telegram-bot on httpx (its default) against bot/telegram/http.py on aiohttp.

The fake Bot API (tests/fakes/telegram_api.py) runs in a process of its own, so what is measured here is the
client side alone: the service's CPU seconds per call (process time: what other patients' turns wait for on a
busy event loop) and the wall time of a burst of calls, each sent by `concurrency` tasks at once, as the service
sends them when many patients act together. Rounds alternate between the two clients in one run.

    .venv/bin/python bench/bench_telegram_http.py [--calls 600] [--concurrency 40] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.telegram.http import AiohttpRequest  # noqa: E402
from tests.fakes.telegram_api import TOKEN  # noqa: E402

USER = 1001
FAKE = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from tests.fakes.telegram_api import FakeTelegram
async def main():
    fake = FakeTelegram()
    print(await fake.start(), flush=True)
    fake.user({USER}, "Bench")
    await asyncio.Event().wait()
asyncio.run(main())
"""


def clients(url: str) -> dict[str, Bot]:
    base, files = f"{url}/bot", f"{url}/file/bot"
    return {"httpx": Bot(TOKEN, base_url=base, base_file_url=files,
                         request=HTTPXRequest(connection_pool_size=256)),
            "aiohttp": Bot(TOKEN, base_url=base, base_file_url=files, request=AiohttpRequest())}


def picture() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((640, 640), 64).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


async def burst(bot: Bot, kind: str, calls: int, concurrency: int, photo: bytes) -> tuple[float, float]:
    """(CPU ms per call, wall s of the burst)."""
    async def one(i: int) -> None:
        if kind == "sendMessage":
            await bot.send_message(USER, f"message {i}: your check-in is ready")
        else:
            await bot.send_photo(USER, photo, caption=f"picture {i}")

    left = iter(range(calls))

    async def worker() -> None:
        for i in left:
            await one(i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return 1000 * (time.process_time() - cpu) / calls, time.perf_counter() - wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fake = subprocess.Popen([sys.executable, "-c", FAKE], stdout=subprocess.PIPE, text=True)
    try:
        url = fake.stdout.readline().strip()
        bots = clients(url)
        photo = picture()
        for bot in bots.values():
            await bot.initialize()
        print(f"{args.calls} calls a burst, {args.concurrency} at once; fake Bot API in its own process")
        for kind, calls in (("sendMessage", args.calls), ("sendPhoto", max(1, args.calls // 4))):
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in bots}
            for _ in range(args.rounds):
                for name, bot in bots.items():
                    results[name].append(await burst(bot, kind, calls, args.concurrency, photo))
            cpu = {name: statistics.median(r[0] for r in rows) for name, rows in results.items()}
            wall = {name: statistics.median(r[1] for r in rows) for name, rows in results.items()}
            for name in bots:
                print(f"{kind:12} {name:8} CPU {cpu[name]:5.2f} ms a call   burst of {calls} {wall[name]:5.2f} s")
            print(f"{kind:12} aiohttp / httpx: CPU {cpu['aiohttp'] / cpu['httpx']:.2f}x, "
                  f"wall {wall['aiohttp'] / wall['httpx']:.2f}x")
        for bot in bots.values():
            await bot.shutdown()
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    asyncio.run(main())
