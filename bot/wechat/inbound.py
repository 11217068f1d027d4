"""What WeChat POSTs to the callback, checked before anything is believed, and reduced to a parsed message.

Refused (and logged by reason only, never with content): a request without signature/timestamp/nonce, a bad
signature, a timestamp more than MAX_CLOCK_SKEW away from now (a replay), a body too large, XML that declares a
DOCTYPE or entities (XXE, billion laughs: refused before any parser sees it), in safe mode a plain message, a
bad msg_signature or a message encrypted for another AppId, and a message addressed to another account.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.utils import check_signature

MAX_BODY = 64 * 1024  # WeChat's callback XML is a few hundred bytes
MAX_CLOCK_SKEW = 300  # seconds
_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class Refused(Exception):
    status: int  # 400 malformed, 403 not from WeChat (or not for us)
    reason: str  # for the log: says what failed, never what was sent


class CallbackGuard:
    def __init__(self, token: str, app_id: str, aes_key: str | None = None, account_id: str | None = None,
                 max_skew: int = MAX_CLOCK_SKEW):
        self.token = token
        self.account_id = account_id
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.max_skew = max_skew

    def signed(self, query: Mapping[str, str], now: float | None = None) -> None:
        """The URL's signature over (token, timestamp, nonce), and a fresh timestamp."""
        signature, timestamp, nonce = (query.get(k, "") for k in ("signature", "timestamp", "nonce"))
        if not (signature and timestamp and nonce):
            raise Refused(403, "unsigned")
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Refused(403, "bad signature") from None
        try:
            skew = abs((time.time() if now is None else now) - int(timestamp))
        except ValueError:
            raise Refused(403, "bad timestamp") from None
        if skew > self.max_skew:
            raise Refused(403, "stale timestamp (replay?)")

    def message(self, query: Mapping[str, str], body: bytes, now: float | None = None) -> BaseMessage:
        """A POSTed message: signed, decrypted in safe mode, parsed, addressed to us."""
        self.signed(query, now)
        xml = _safe_xml(body)
        if self.crypto is not None:
            if query.get("encrypt_type") != "aes" or not query.get("msg_signature"):
                raise Refused(403, "plain message in safe mode")
            try:
                xml = _safe_xml(self.crypto.decrypt_message(xml, query["msg_signature"], query["timestamp"],
                                                            query["nonce"]).encode())
            except InvalidSignatureException:
                raise Refused(403, "bad msg_signature") from None
            except InvalidAppIdException:
                raise Refused(403, "encrypted for another AppId") from None
            except Refused:
                raise
            except Exception:  # not XML, no Encrypt element, bad base64 or padding
                raise Refused(400, "undecryptable") from None
        try:
            message = parse_message(xml)
            source, target, created = message.source, message.target, message.time
        except Exception:
            raise Refused(400, "malformed XML") from None
        if not source or not target or not created:
            raise Refused(400, "message without sender, receiver or time")
        if self.account_id and target != self.account_id:
            raise Refused(403, "addressed to another account")
        return message

    def reply(self, xml: str, query: Mapping[str, str]) -> str:
        """A passive reply, encrypted in safe mode."""
        if self.crypto is None:
            return xml
        return self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"])


def _safe_xml(body: bytes) -> str:
    if len(body) > MAX_BODY:
        raise Refused(400, "body too large")
    if _DECLARATIONS.search(body):
        raise Refused(400, "XML with DOCTYPE or entity declarations")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "not UTF-8") from None
