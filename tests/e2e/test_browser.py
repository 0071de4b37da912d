"""The whole product in a browser, as a newcomer meets it: `python -m local` (what
`make run` starts) driven through the bot simulator page in headless Chromium (Debian's,
found by scripts/ensure-chromium). Screenshots go to build/e2e/.

- Ann connects Softphone and pays with a card she saves, on the local Stripe Checkout
  page (localstripe behind it); the clock moves 6 months minus 6 days: the reminder; then
  three days more: the automatic renewal charged to the saved card.
- Bob tops up by crypto and by PayPal on the fake providers' pages.
- Pavel, a Payer in Russia, gives an e-mail for receipts, connects Gateway in RUB with the
  card for Russia saved on the fake YooKassa page (3-D Secure code asked); the clock moves to
  the renewal, which charges the saved card off-session. Then he tops up in Telegram Stars,
  the Stars shown on the button and paid on the invoice.
- Иван, a Russian-speaking Payer, connects Gateway for his colleague Ольга: the price needs
  his country, so he is asked for it and comes back to the same quote; PayPal needs his
  country confirmed, so he shares his phone and comes back to the payment; he pays on the
  PayPal page, support refunds part of it from the bot, and he reads the refund notice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from billing.domain.periods import add_months
from tests.local_process import Running, start_local, stop_local

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "e2e"
WAIT = 20_000  # ms: a webhook, a sweep and the page's one-second refresh
SUPPORT_ID = 3900


@pytest.fixture(scope="module")
def local() -> Iterator[Running]:
    # The schedule is left to the test's "Run sweep" presses.
    running = start_local(SWEEP_EVERY="3600", ADMIN_IDS=str(SUPPORT_ID))
    try:
        yield running
    finally:
        assert stop_local(running) == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail(f"no chromium at {executable}: run the tests with `make test`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


class Simulator:
    def __init__(self, page: Page, base: str, user: str) -> None:
        self.page = page
        self.base = base
        self.user = user

    def shot(self, name: str, page: Page | None = None) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        (page or self.page).screenshot(path=str(SHOTS / f"{self.user}-{name}.png"), full_page=True)

    def _acting(self, endpoint: str) -> Any:
        """Waits for the page's call to the simulator endpoint (the bot has answered)."""
        return self.page.expect_response(lambda r: r.url.endswith(endpoint), timeout=WAIT)

    def send(self, text: str) -> None:
        self.page.fill("#message-input", text)
        with self._acting("/send"):
            self.page.click("#send")

    def press(self, label: str, *, exact: bool = False) -> None:
        """The newest inline button whose text starts with (or is) `label`."""
        pattern = re.compile("^" + re.escape(label) + ("$" if exact else ""))
        button = self.page.locator("#transcript button.inline-button", has_text=pattern).last
        expect(button).to_be_visible(timeout=WAIT)
        with self._acting("/press"):
            button.click()

    def sees(self, text: str | re.Pattern[str]) -> None:
        expect(self.page.locator("#transcript")).to_contain_text(text, timeout=WAIT)

    def new_link(self, links_before: int) -> str:
        """The payment link the bot has just sent (after `links_before` earlier ones)."""
        links = self.page.locator("#transcript a.url-button")
        expect(links).to_have_count(links_before + 1, timeout=WAIT)
        href = links.last.get_attribute("href")
        assert href
        return href

    def links(self) -> int:
        return self.page.locator("#transcript a.url-button").count()

    def share_user(self, user_id: int) -> None:
        self.page.locator("#reply-keyboard .request-users").click()
        self.page.fill("#reply-input", str(user_id))
        with self._acting("/share_user"):
            self.page.click("#reply-submit")

    def transcript(self) -> str:
        return self.page.locator("#transcript").inner_text()

    def share_phone(self, phone: str) -> None:
        self.page.locator("#reply-keyboard .request-contact").click()
        self.page.fill("#reply-input", phone)
        with self._acting("/contact"):
            self.page.click("#reply-submit")

    def country(self, code: str, phone: str) -> None:
        self.send("/billing")
        self.press("Country")
        self.send(code)
        self.sees(f"({code})")
        self.press("Share my phone number")
        self.share_phone(phone)
        self.sees("Country check: confirmed")

    def advance_days(self, days: int) -> None:
        self.page.fill("#advance-days", str(days))
        self.page.click("#advance")

    def sweep(self) -> None:
        with self.page.expect_response(lambda r: r.url.endswith("/_local/sweep"), timeout=WAIT):
            self.page.click("#run-sweep")

    def entitlements(self, product: str, plan: str, *, version: int) -> None:
        panel = self.page.locator("#entitlements-panel")
        expect(panel.locator("#entitlements-version")).to_have_attribute(
            "data-version", str(version), timeout=WAIT
        )
        expect(panel.locator(f'.product[data-product="{product}"]')).to_have_attribute(
            "data-plan", plan, timeout=WAIT
        )

    def event_received(self, event_id: str) -> None:
        expect(self.page.locator(f'#events-list li[data-event-id="{event_id}"]')).to_be_visible(
            timeout=WAIT
        )

    def clock(self) -> datetime:
        now = self.page.locator("#clock-now").get_attribute("data-now")
        assert now
        return datetime.fromisoformat(now)


def open_simulator(
    browser: Browser, base: str, user_id: int, name: str, lang: str = "en"
) -> Simulator:
    page = browser.new_page()
    page.goto(base)
    page.fill("#new-user-id", str(user_id))
    page.fill("#new-user-name", name)
    page.select_option("#new-user-lang", lang)
    page.click("#new-user-add")
    expect(page.locator("#user-select")).to_have_value(str(user_id), timeout=WAIT)
    return Simulator(page, base, str(user_id))


def test_connect_pay_by_saved_card_then_reminder_and_auto_renewal(
    local: Running, browser: Browser
) -> None:
    ann = open_simulator(browser, local.base, 3001, "Ann")
    ann.send("/start")
    ann.sees("Welcome")
    ann.country("DE", "+49 30 901820")

    ann.send("/subscriptions")
    ann.press("Softphone")
    ann.press("Connect", exact=True)
    ann.press("EUR")  # six months is the preselected period
    ann.press("Show the price")
    ann.sees("Total:")
    ann.press("Pay ")
    links = ann.links()
    ann.press("Card (Stripe), save for auto-renewal")
    link = ann.new_link(links)
    ann.sees("Open the payment page")
    ann.shot("1-quote-and-link")

    checkout = browser.new_page()
    checkout.goto(link)
    expect(checkout.locator("#save-card")).to_be_visible()
    ann.shot("2-stripe-checkout", checkout)
    checkout.click("#pay")
    checkout.wait_for_url(re.compile(re.escape(local.base) + ".*"), timeout=WAIT)
    checkout.close()

    ann.sees("is active until")
    expect(ann.page.locator("#transcript a.document").last).to_contain_text("INV-", timeout=WAIT)
    # Next to the chat: what the telephony side reads now, and the change event it got.
    ann.entitlements("softphone", "softphone", version=1)
    ann.event_received("3001:1")
    ann.send("/billing")
    ann.sees("Saved card: visa •••• 4242")
    ann.shot("3-paid-and-card-saved")

    started = ann.clock()
    expiry = add_months(started, 6)
    ann.advance_days((expiry - timedelta(days=6) - started).days)
    ann.sweep()
    ann.sees(re.compile(r"Auto-renewal is on: [\d.]+ EUR will be charged from your saved card"))
    ann.shot("4-reminder")

    ann.advance_days(3)
    ann.sweep()
    ann.sees("was renewed until")
    ann.sees("paid by card (Stripe)")
    ann.entitlements("softphone", "softphone", version=2)
    ann.event_received("3001:2")
    ann.shot("5-auto-renewed")


def test_top_ups_by_crypto_and_paypal_on_the_fake_pages(local: Running, browser: Browser) -> None:
    bob = open_simulator(browser, local.base, 3002, "Bob")
    bob.send("/start")
    bob.country("US", "+1 212 555 0100")

    bob.send("/balance")
    bob.press("Top up")
    bob.press("EUR")
    bob.press("25.00 EUR")
    bob.press("Crypto")
    crypto = browser.new_page()
    crypto.goto(bob.new_link(0))
    bob.shot("1-crypto-page", crypto)
    crypto.get_by_role("button", name="Pay").click()
    crypto.close()
    bob.sees("Payment of 25.00 EUR received")

    bob.send("/balance")
    bob.press("Top up")
    bob.press("EUR")
    bob.press("10.00 EUR")
    bob.press("PayPal")
    paypal = browser.new_page()
    paypal.goto(bob.new_link(1))
    bob.shot("2-paypal-page", paypal)
    paypal.get_by_role("button", name="Approve").click()
    paypal.close()
    bob.sees("Payment of 10.00 EUR received")

    bob.send("/balance")
    bob.sees("EUR: 35.00 EUR")
    bob.shot("3-balance")
    assert datetime.now(UTC) <= bob.clock() + timedelta(minutes=1)


def test_a_payer_in_russia_pays_by_the_partner_card_then_in_telegram_stars(
    local: Running, browser: Browser
) -> None:
    pavel = open_simulator(browser, local.base, 3003, "Pavel")
    pavel.send("/start")
    pavel.country("RU", "+7 912 345-67-89")
    pavel.press("E-mail or phone for receipts")
    pavel.send("pavel@example.com")
    pavel.sees("Receipts to: pavel@example.com")

    pavel.send("/subscriptions")
    pavel.press("Gateway")
    pavel.press("Connect", exact=True)
    pavel.press("RUB")
    pavel.press("Show the price")
    pavel.sees("Total:")
    pavel.press("Pay ")
    links = pavel.links()
    pavel.press("Card for Russia, save for auto-renewal")
    link = pavel.new_link(links)
    pavel.shot("1-methods-and-link")

    page = browser.new_page()
    page.goto(link)
    expect(page.locator(".save")).to_be_visible()
    page.fill("input[name=card_number]", "5555 5555 5555 4477")  # asks for 3-D Secure
    pavel.shot("2-yookassa-page", page)
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.fill("input[name=code]", "12345")
    pavel.shot("3-yookassa-3ds", page)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(re.escape(local.base) + ".*"), timeout=WAIT)
    page.close()
    pavel.sees("is active until")
    pavel.send("/billing")
    pavel.sees(re.compile(r"Saved card: MasterCard •••• 4477"))

    started = pavel.clock()
    expiry = add_months(started, 6)
    pavel.advance_days((expiry - timedelta(days=2) - started).days)
    pavel.sweep()
    pavel.sees("was renewed until")
    pavel.sees("paid by card for Russia")
    pavel.shot("4-renewed-from-the-saved-card")

    pavel.send("/balance")
    pavel.press("Top up")
    pavel.press("RUB")
    pavel.press("1000.00 RUB")
    pavel.press("Telegram Stars: 850 ⭐")
    pavel.sees("that is 850 ⭐")
    pavel.shot("5-stars-invoice")
    with pavel._acting("/pay_invoice"):
        pavel.page.locator("#transcript button.pay-invoice").last.click()
    pavel.sees("Payment of 1000.00 RUB received")
    pavel.send("/balance")
    pavel.sees("RUB: 1000.00 RUB")
    pavel.shot("6-paid-in-stars")


def test_a_russian_payer_connects_for_a_colleague_through_two_detours_and_is_refunded(
    local: Running, browser: Browser
) -> None:
    olga = open_simulator(browser, local.base, 3102, "Ольга", "ru")
    olga.send("/start")
    olga.sees("Добро пожаловать")
    ivan = open_simulator(browser, local.base, 3101, "Иван", "ru")
    ivan.send("/start")

    ivan.send("/subscriptions")
    ivan.press("Подключить другому")
    ivan.share_user(3102)
    ivan.sees("Выбран пользователь: Ольга.")
    ivan.press("Шлюз")
    ivan.sees("Подключение: Шлюз для пользователя Ольга.")
    ivan.press("EUR")
    ivan.press("Показать цену")
    # Detour 1: the price depends on the country.
    ivan.sees("Цена зависит от страны плательщика")
    ivan.shot("1-asked-for-the-country")
    ivan.send("Германия")
    ivan.sees("Шлюз для пользователя Ольга, 6 месяцев, EUR")
    ivan.sees("НДС 19%")
    ivan.shot("2-back-at-the-same-quote")

    ivan.press("Оплатить")
    ivan.press("PayPal")
    # Detour 2: PayPal needs the country confirmed by the phone number.
    ivan.sees("поделитесь номером телефона")
    ivan.press("Поделиться номером телефона")
    ivan.share_phone("+49 30 901820")
    ivan.sees("Как вы хотите оплатить?")
    links = ivan.links()
    ivan.press("PayPal")
    paypal = browser.new_page()
    paypal.goto(ivan.new_link(links))
    ivan.shot("3-paypal-page", paypal)
    paypal.get_by_role("button", name="Approve").click()
    paypal.close()
    ivan.sees("получен")
    olga.sees("Иван подключил(а) вам Шлюз")
    ivan.shot("4-paid")
    order = re.findall(r"\d{6}-[A-Z0-9]{6}", ivan.transcript())[-1]

    support = open_simulator(browser, local.base, SUPPORT_ID, "Support")
    support.send("/start")
    support.send(f"/admin {order}")
    support.press("Refund")
    support.send("EUR 20.00")
    support.sees("20.00 EUR refunded")

    ivan.sees(f"Заказ {order}: 20.00 EUR возвращено на вашу карту или счёт")
    ivan.shot("5-refund-notice")
    transcript = ivan.transcript()
    for english in ("Connect", "Show the price", "Total", "refund", "user 3102"):
        assert english not in transcript
