"""The console's texts: both languages complete, and the language a request gets."""
from __future__ import annotations


def test_both_languages_have_every_console_text():
    from bot.console.catalogue import TEXTS, negotiate

    assert set(TEXTS["en"]) == set(TEXTS["zh"])
    assert negotiate(None, "fr-FR, zh-Hans;q=0.8, en;q=0.5") == "zh"
    assert negotiate(None, "en-GB,zh;q=0.9") == "en" and negotiate("zh", "en") == "zh"
    assert negotiate(None, None) == "en"


def test_every_text_a_template_asks_for_is_in_the_catalogue():
    import re
    from pathlib import Path

    from bot.console.catalogue import TEXTS

    folder = Path(__file__).resolve().parents[2] / "bot" / "console" / "templates"
    key = re.compile(r"\bt\('([a-z_.]+)'\s*[,)]")  # t('a.b') and t('a.b', n=1); not t('a.' + kind)
    used = {found for page in folder.glob("*.html") for found in key.findall(page.read_text())}
    assert used and used <= set(TEXTS["en"]), used - set(TEXTS["en"])
