"""The WeChat official-account transport: transport.py (the callback, passive replies, pushes), inbound.py
(signed and AES-sealed XML in, via wechatpy) and api.py (the customer-service, template and media API over
aiohttp, with its access token)."""
