"""The Telegram transport (python-telegram-bot): long polling or webhook in, Bot API calls out, and the courier
that pushes results, reminders and staff replies (bot/delivery.py). Everything is in transport.py."""
