"""A /gpus page's text and keyboard are made once and given again, never for another page."""

from __future__ import annotations

from bot.common import render
from bot.telegram.keyboards import gpus_keyboard
from core import grammar as g
from core.services.views import OfferView, SearchPage


def _page(price: int) -> SearchPage:
    offer = OfferView(3, "rtx4090", "RTX 4090", 1, 24, price, price, "eu", 9500, True, "box")
    return SearchPage(offers=(offer,), page=1, has_more=False, total_available=1, sort="price")


def test_the_same_page_object_is_rendered_once_per_language(monkeypatch):
    made: list[str] = []
    real = render._search_page

    def counting(lang: str, page: SearchPage) -> str:
        made.append(lang)
        return real(lang, page)

    monkeypatch.setattr(render, "_search_page", counting)
    page = _page(900_000)
    first = render.search_page("en", page)
    assert render.search_page("en", page) == first
    german = render.search_page("de", page)
    assert made == ["en", "de"]
    assert german != first


def test_another_page_with_other_offers_is_rendered_again():
    cheap, dear = _page(900_000), _page(2_500_000)
    cheap_text = render.search_page("en", cheap)
    dear_text = render.search_page("en", dear)
    assert "0.90" in cheap_text and "2.50" in dear_text
    assert render.search_page("en", cheap) == cheap_text  # still its own text


def test_a_page_keyboard_is_built_once_per_language_query_and_more():
    cmd = g.Gpus(filters=g.GpuFilters(model="rtx4090"), sort="price", page=2)
    first = gpus_keyboard("en", cmd, True)
    assert gpus_keyboard("en", cmd, True) is first
    last_page = gpus_keyboard("en", cmd, False)
    assert last_page is not first
    labels = [b.text for row in first.inline_keyboard for b in row]
    assert len([b for row in last_page.inline_keyboard for b in row]) == len(labels) - 1
    assert gpus_keyboard("de", cmd, True) is not first
