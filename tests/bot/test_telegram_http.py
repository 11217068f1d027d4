"""bot/telegram/http.py: python-telegram-bot's Bot on aiohttp, against the fake Bot API (a real HTTP server
speaking Telegram's protocol). Sending, uploading and downloading arrive as httpx sent them; Telegram's errors,
a stalled server and an unreachable one become PTB's own exceptions; the session closes and opens again."""
from __future__ import annotations

import io
import socket
import traceback

import pytest
from aiohttp import web
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.telegram.http import AiohttpRequest
from tests.fakes.telegram_api import TOKEN

pytestmark = pytest.mark.asyncio


def bot_for(url: str, **timeouts: float) -> Bot:
    return Bot(TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot", request=AiohttpRequest(**timeouts))


def jpeg(side: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 120, 110)).save(out, "JPEG")
    return out.getvalue()


async def test_messages_buttons_and_photos_arrive_as_sent(fake):
    alice = fake.user(1001, "Alice")
    picture = jpeg()
    async with bot_for(fake.url) as bot:
        await bot.send_message(alice.id, "Hello — ça va? 你好", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Skip", callback_data="questions.skip")]]))
        await bot.send_photo(alice.id, picture, caption="your picture")
        await bot.send_document(alice.id, b"zip bytes", filename="export.zip")
    text, photo, document = fake.sent(alice)
    assert (text.method, text.text, text.buttons) == ("sendMessage", "Hello — ça va? 你好",
                                                      [("Skip", "questions.skip")])
    assert (photo.method, photo.text, list(photo.files.values())) == ("sendPhoto", "your picture", [picture])
    assert (document.method, list(document.files.values())) == ("sendDocument", [b"zip bytes"])


async def test_a_photo_the_patient_sent_downloads_whole(fake):
    alice = fake.user(1002, "Alice")
    photo = jpeg(320)
    await fake.send_photo(alice, photo)
    async with bot_for(fake.url) as bot:
        update = (await bot.get_updates())[-1]
        largest = max(update.message.photo, key=lambda size: size.width * size.height)
        data = bytes(await (await bot.get_file(largest.file_id)).download_as_bytearray())
    assert Image.open(io.BytesIO(data)).size == Image.open(io.BytesIO(photo)).size


async def test_telegrams_refusals_are_ptbs_errors(fake):
    alice = fake.user(1003, "Alice")
    async with bot_for(fake.url) as bot:
        fake.fail_next("sendMessage", retry_after=3)
        with pytest.raises(RetryAfter, match="Retry in 3"):
            await bot.send_message(alice.id, "hi")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(424242, "nobody")
        fake.block(alice)
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(alice.id, "hi")


async def test_a_stalled_call_times_out_and_an_unreachable_server_is_a_network_error(fake):
    alice = fake.user(1004, "Alice")
    async with bot_for(fake.url, read_timeout=0.3) as bot:
        fake.stall_next("sendMessage", 2.0)
        with pytest.raises(TimedOut):
            await bot.send_message(alice.id, "hi")
        await bot.send_message(alice.id, "after the stall")  # the session is still usable
    assert fake.sent(alice)[-1].text == "after the stall"
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = bot_for(f"http://127.0.0.1:{port}", connect_timeout=1.0)
    with pytest.raises(NetworkError) as refused:
        await unreachable.initialize()  # asks getMe
    assert not isinstance(refused.value, TimedOut)
    await unreachable.shutdown()


async def test_the_session_closes_and_opens_again(fake):
    alice = fake.user(1005, "Alice")
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{fake.url}/bot{TOKEN}/getMe", "POST")
    bot = Bot(TOKEN, base_url=f"{fake.url}/bot", request=request)
    for round_ in range(2):
        await bot.initialize()
        await bot.send_message(alice.id, f"round {round_}")
        await bot.shutdown()
    assert [c.text for c in fake.sent(alice)] == ["round 0", "round 1"]


async def test_a_network_error_never_quotes_the_token(fake):
    """aiohttp quotes the URL in some errors (here: redirected in circles), and the Bot API's URL holds the token;
    the error the service logs, traceback and all, does not."""
    async def in_circles(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", in_circles)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as failed:
            await request.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
        await runner.cleanup()
    logged = "".join(traceback.format_exception(failed.value))
    assert "TooManyRedirects" in logged and "/bot<token>/getMe" in logged
    assert TOKEN not in logged and TOKEN.split(":")[1] not in logged
