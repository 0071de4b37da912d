"""Every sentence the bot says, in English and Russian.

`t(lang, key, **values)` picks the language (English when unknown) and fills the values.
Keeping texts apart from flow code lets a translator work on one file.
"""

from __future__ import annotations

from datetime import datetime

from billing.bot.commands import help_lines
from billing.domain.money import Currency, format_minor

LANGUAGES = ("en", "ru")

TEXTS: dict[str, dict[str, str]] = {
    # --- general --------------------------------------------------------------------
    "welcome": {
        "en": "Welcome! Your account is on the Free subscription.\n"
        "/subscriptions — connect Softphone or Gateway\n/balance — your balance\n"
        "/billing — billing details and payment method\n/help — all commands",
        "ru": "Добро пожаловать! Ваш аккаунт на бесплатной подписке Free.\n"
        "/subscriptions — подключить Софтфон или Шлюз\n/balance — ваш баланс\n"
        "/billing — платёжные данные и способ оплаты\n/help — все команды",
    },
    # /help lists the command menu (billing.bot.commands), the one list setMyCommands
    # registers, so the two cannot drift apart.
    "help": {
        "en": "Commands:\n" + help_lines("en") + "\n/cancel — cancel the current question",
        "ru": "Команды:\n" + help_lines("ru") + "\n/cancel — отменить текущий вопрос",
    },
    # --- Telegram's rules for bots that take payments (SPEC §10) -----------------------
    "privacy": {
        "en": "What the bot stores, and why:\n"
        "• your Telegram id, name and language — to keep your account and talk to you;\n"
        "• your billing details: country, name, address, VAT id and the phone number you"
        " shared — for invoices and the right VAT;\n"
        "• if you save a card, a reference to it at Stripe for auto-renewal — never the card"
        " number;\n"
        "• wallets, ledger entries, orders and invoices — tax and accounting law requires"
        " them to be kept;\n"
        "• what you are entering in the bot right now — for 24 hours.\n\n"
        "To have your data deleted, write to support in this chat (/paysupport). What"
        " accounting law requires to be kept is kept; the rest is deleted.",
        "ru": "Что хранит бот и зачем:\n"
        "• ваш Telegram id, имя и язык — чтобы вести аккаунт и общаться с вами;\n"
        "• платёжные данные: страна, имя, адрес, VAT-номер и номер телефона, которым вы"
        " поделились, — для счетов и верного НДС;\n"
        "• если вы сохранили карту, ссылка на неё в Stripe для автопродления; номер карты —"
        " никогда;\n"
        "• кошельки, операции по балансу, заказы и счета — их требуется хранить по"
        " налоговому и бухгалтерскому законодательству;\n"
        "• то, что вы сейчас вводите в боте, — 24 часа.\n\n"
        "Чтобы удалить ваши данные, напишите в поддержку в этом чате (/paysupport). То, что"
        " требуется хранить по закону о бухгалтерском учёте, сохраняется; остальное удаляется.",
    },
    "paysupport": {
        "en": "A question about a payment? Send /paysupport followed by your question and the"
        " order number (it is in the bot's payment messages and on the invoice), for example:"
        "\n/paysupport 261201-A1B2C3 I was charged twice\nSupport reads it and answers you in"
        " this chat.",
        "ru": "Вопрос об оплате? Отправьте /paysupport, а за ним вопрос и номер заказа (он есть"
        " в сообщениях бота об оплате и в счёте), например:\n/paysupport 261201-A1B2C3 деньги"
        " списали дважды\nПоддержка прочитает и ответит вам в этом чате.",
    },
    "paysupport_sent": {
        "en": "Sent to support. They will answer you in this chat.",
        "ru": "Отправлено в поддержку. Ответ придёт в этот чат.",
    },
    "support_reply": {
        "en": "Support: {text}",
        "ru": "Поддержка: {text}",
    },
    "nothing_asked": {
        "en": "I wasn't waiting for a message. Use the buttons or /help.",
        "ru": "Я сейчас ничего не спрашивал. Пользуйтесь кнопками или /help.",
    },
    "unknown_command": {
        "en": "I don't know that command. /help lists what I can do.",
        "ru": "Такой команды нет. /help — список команд.",
    },
    "cancelled": {"en": "Cancelled.", "ru": "Отменено."},
    "stale": {
        "en": "This button is out of date. Open /subscriptions again.",
        "ru": "Эта кнопка устарела. Откройте /subscriptions заново.",
    },
    "not_yours": {
        "en": "This subscription is not available to you.",
        "ru": "Эта подписка вам недоступна.",
    },
    "payer_only": {
        "en": "Only the payer of this subscription can do that.",
        "ru": "Это может сделать только плательщик подписки.",
    },
    "try_again": {
        "en": "Something changed at the same moment. Please try again.",
        "ru": "Данные изменились в тот же момент. Попробуйте ещё раз.",
    },
    "language_set": {"en": "Language: English.", "ru": "Язык: русский."},
    "choose_language": {"en": "Choose a language:", "ru": "Выберите язык:"},
    # --- buttons ------------------------------------------------------------------------
    "btn_back": {"en": "« Back", "ru": "« Назад"},
    "btn_cancel": {"en": "Cancel", "ru": "Отмена"},
    "btn_connect": {"en": "Connect", "ru": "Подключить"},
    "btn_connect_other": {"en": "Connect for another user", "ru": "Подключить другому"},
    "btn_change": {"en": "Change", "ru": "Изменить"},
    "btn_renew": {"en": "Renew", "ru": "Продлить"},
    "btn_auto_on": {"en": "Auto-renewal: on ✓", "ru": "Автопродление: вкл ✓"},
    "btn_auto_off": {"en": "Auto-renewal: off", "ru": "Автопродление: выкл"},
    "btn_customer_may_change_on": {
        "en": "User may change options: yes ✓",
        "ru": "Пользователь может менять опции: да ✓",
    },
    "btn_customer_may_change_off": {
        "en": "User may change options: no",
        "ru": "Пользователь может менять опции: нет",
    },
    "forward_hidden": {
        "en": "That user hides their account in forwarded messages. Use «Connect for another"
        " user» in /subscriptions and choose them instead.",
        "ru": "Этот пользователь скрывает аккаунт в пересланных сообщениях. Используйте"
        " «Подключить другому» в /subscriptions и выберите его.",
    },
    "btn_quote": {"en": "Show the price", "ru": "Показать цену"},
    "btn_pay_balance": {"en": "Pay {amount} from balance", "ru": "Оплатить {amount} с баланса"},
    "btn_confirm_change": {"en": "Confirm the change", "ru": "Подтвердить изменение"},
    "btn_top_up": {"en": "Top up", "ru": "Пополнить"},
    "btn_subscriptions": {"en": "Subscriptions", "ru": "Подписки"},
    "btn_months": {"en": "{months} months", "ru": "{months} мес."},
    "btn_pick_user": {"en": "Choose the user", "ru": "Выбрать пользователя"},
    # --- subscriptions ------------------------------------------------------------------
    "subs_title": {"en": "Your subscriptions", "ru": "Ваши подписки"},
    "subs_free": {
        "en": "Free — always on (1 gateway line, 1 SIP account, 30 call minutes a month)",
        "ru": "Free — всегда включена (1 линия шлюза, 1 SIP-аккаунт, 30 минут звонков в месяц)",
    },
    "subs_item": {
        "en": "{product} for {customer} — until {expiry}",
        "ru": "{product} для {customer} — до {expiry}",
    },
    "subs_available": {"en": "Available:", "ru": "Можно подключить:"},
    "you": {"en": "you", "ru": "вас"},
    "user_n": {"en": "user {id}", "ru": "пользователя {id}"},
    "sub_view": {
        "en": "{product}\nCustomer: {customer}\nPayer: {payer}\nOptions:\n{options}\n"
        "Period: {months} months, {currency}\nStatus: {status}\nValid until: {expiry}\n"
        "Auto-renewal: {auto}",
        "ru": "{product}\nПользователь: {customer}\nПлательщик: {payer}\nОпции:\n{options}\n"
        "Период: {months} мес., {currency}\nСтатус: {status}\nДействует до: {expiry}\n"
        "Автопродление: {auto}",
    },
    "on": {"en": "on", "ru": "вкл"},
    "off": {"en": "off", "ru": "выкл"},
    "status_active": {"en": "active", "ru": "активна"},
    "status_expired": {"en": "expired", "ru": "истекла"},
    "status_terminated": {"en": "terminated", "ru": "прекращена"},
    "history_title": {"en": "History:", "ru": "История:"},
    "history_connect": {"en": "{at}: connected until {new}", "ru": "{at}: подключена до {new}"},
    "history_renew": {
        "en": "{at}: renewed, {old} → {new}",
        "ru": "{at}: продлена, {old} → {new}",
    },
    "history_change": {
        "en": "{at}: expiry moved from {old} to {new} because {what}",
        "ru": "{at}: срок перенесён с {old} на {new}, потому что {what}",
    },
    "history_change_kept": {
        "en": "{at}: options changed ({what}), expiry kept",
        "ru": "{at}: опции изменены ({what}), срок не изменился",
    },
    "history_auto_renew": {
        "en": "{at}: auto-renewal switched {state}",
        "ru": "{at}: автопродление {state}",
    },
    "history_other": {"en": "{at}: {kind}", "ru": "{at}: {kind}"},
    "changed_what": {"en": "{option} changed {old} → {new}", "ru": "{option}: {old} → {new}"},
    "product_view": {"en": "{product}\n{description}", "ru": "{product}\n{description}"},
    "already_active": {
        "en": "{customer} already has an active {product}. Open it to change or renew it.",
        "ru": "У {customer} уже есть активная подписка {product}. Откройте её, чтобы изменить"
        " или продлить.",
    },
    # --- connect / change drafts ----------------------------------------------------------
    "draft_connect": {
        "en": "Connect {product} for {customer}.\nPress an option to change it, then choose"
        " the period{currency_hint} and press «Show the price».",
        "ru": "Подключение {product} для {customer}.\nНажмите на опцию, чтобы изменить её, затем"
        " выберите период{currency_hint} и нажмите «Показать цену».",
    },
    "currency_hint": {"en": " and the currency", "ru": " и валюту"},
    "draft_change": {
        "en": "Change {product}.\nPress an option to change it, then «Show the price».",
        "ru": "Изменение {product}.\nНажмите на опцию, чтобы изменить её, затем «Показать цену».",
    },
    "ask_option_int": {
        "en": "Send the new value of «{option}»: a whole number from {min} to {max}.",
        "ru": "Отправьте новое значение «{option}»: целое число от {min} до {max}.",
    },
    "ask_option_choice": {
        "en": "Choose «{option}» ({allowed}):",
        "ru": "Выберите «{option}» ({allowed}):",
    },
    "bad_option_value": {
        "en": "That value doesn't fit: {error}. Try again or press Cancel.",
        "ru": "Это значение не подходит: {error}. Попробуйте ещё раз или нажмите «Отмена».",
    },
    "option_requires": {
        "en": "«{option}» applies only when «{other}» is {value}.",
        "ru": "«{option}» действует, только когда «{other}» — {value}.",
    },
    "ask_currency": {
        "en": "Choose the currency first: it is fixed for this subscription.",
        "ru": "Сначала выберите валюту: у подписки она не меняется.",
    },
    "need_country": {
        "en": "Before the first payment, set your country in /billing (it decides the VAT).",
        "ru": "Перед первой оплатой укажите страну в /billing (от неё зависит НДС).",
    },
    "quote": {
        "en": "{product} for {customer}, {months} months, {currency}\n{lines}\nSubtotal: {subtotal}"
        "\nDiscount {discount_percent}%: -{discount}\nNet: {net}\n{vat_line}\nTotal: {total}",
        "ru": "{product} для {customer}, {months} мес., {currency}\n{lines}\nСумма: {subtotal}"
        "\nСкидка {discount_percent}%: -{discount}\nБез НДС: {net}\n{vat_line}\nИтого: {total}",
    },
    "quote_line": {
        "en": "• {option}: {quantity} × {unit} × {months} mo = {amount}",
        "ru": "• {option}: {quantity} × {unit} × {months} мес. = {amount}",
    },
    "vat_line": {"en": "VAT {rate}%: {vat}", "ru": "НДС {rate}%: {vat}"},
    "vat_reverse_charge": {
        "en": "VAT 0% (reverse charge)",
        "ru": "НДС 0% (обратное начисление, reverse charge)",
    },
    "vat_not_subject": {
        "en": "VAT 0% (not subject to EU VAT)",
        "ru": "НДС 0% (не облагается НДС ЕС)",
    },
    "quote_balance_ok": {
        "en": "Your {currency} balance: {balance}. Confirm to pay from it.",
        "ru": "Ваш баланс в {currency}: {balance}. Подтвердите оплату с баланса.",
    },
    "quote_balance_credit": {
        "en": "Your {currency} balance: {balance}. After this payment it will be {after}: you"
        " pay on credit (your credit limit is {limit}). Confirm to pay from the balance.",
        "ru": "Ваш баланс в {currency}: {balance}. После оплаты он станет {after}: оплата в"
        " кредит (ваш кредитный лимит — {limit}). Подтвердите оплату с баланса.",
    },
    "quote_balance_short": {
        "en": "Your {currency} balance: {balance}; {missing} is missing. Pay it by card, PayPal,"
        " crypto or bank transfer below, or top up first.",
        "ru": "Ваш баланс в {currency}: {balance}; не хватает {missing}. Оплатите недостающее"
        " картой, PayPal, криптой или переводом ниже либо сначала пополните баланс.",
    },
    "connected": {
        "en": "Done! {product} for {customer} is active until {expiry}. Paid {total} from the"
        " balance. Auto-renewal: {auto}.",
        "ru": "Готово! {product} для {customer} активна до {expiry}. Списано {total} с баланса."
        " Автопродление: {auto}.",
    },
    "renew_quote_intro": {
        "en": "Renewal: the new period starts at the current expiry ({expiry}) and ends {new}.",
        "ru": "Продление: новый период начнётся с текущей даты окончания ({expiry}) и закончится"
        " {new}.",
    },
    "renewed": {
        "en": "Renewed: {product} is now valid until {expiry}. Paid {total} from the balance.",
        "ru": "Продлено: {product} действует до {expiry}. Списано {total} с баланса.",
    },
    "change_plan_expand": {
        "en": "New monthly price {new_price} (was {old_price}). No payment is taken: the time"
        " left is recalculated at the new price, so the expiry moves from {old} to {new}.",
        "ru": "Новая цена в месяц {new_price} (была {old_price}). Оплата не нужна: оставшееся"
        " время пересчитывается по новой цене, срок переносится с {old} на {new}.",
    },
    "change_plan_reduce": {
        "en": "New monthly price {new_price} (was {old_price}). The expiry stays {old};"
        " nothing is refunded.",
        "ru": "Новая цена в месяц {new_price} (была {old_price}). Срок остаётся {old};"
        " разница не возвращается.",
    },
    "changed": {
        "en": "Changed. {product} is valid until {expiry}.",
        "ru": "Изменено. {product} действует до {expiry}.",
    },
    "pick_user": {
        "en": "Press the button below and choose the Telegram user the subscription is for."
        " You will pay for it; they will use it.",
        "ru": "Нажмите кнопку ниже и выберите пользователя Telegram, для которого подписка."
        " Платите вы, пользуется он.",
    },
    "picked_user_is_bot": {
        "en": "A subscription can't be connected for a bot.",
        "ru": "Подписку нельзя подключить боту.",
    },
    # --- billing profile --------------------------------------------------------------
    "billing_title": {"en": "Billing details", "ru": "Платёжные данные"},
    "billing_body": {
        "en": "Country: {country}\nName: {name}\nAddress: {address}\nVAT id: {vat_id}\n"
        "Payment method: {method}\nSaved card: {card}\nCountry check: {verification}",
        "ru": "Страна: {country}\nИмя: {name}\nАдрес: {address}\nVAT-номер: {vat_id}\n"
        "Способ оплаты: {method}\nСохранённая карта: {card}\nПроверка страны: {verification}",
    },
    "not_set": {"en": "not set", "ru": "не указано"},
    "verification_verified": {"en": "confirmed", "ru": "подтверждена"},
    "verification_unverified": {
        "en": "not confirmed (share your phone number)",
        "ru": "не подтверждена (поделитесь номером телефона)",
    },
    "verification_contradiction": {
        "en": "phone country differs; support can check it",
        "ru": "страна телефона отличается; поддержка может проверить",
    },
    "verification_not_needed": {"en": "not needed", "ru": "не нужна"},
    "btn_country": {"en": "Country", "ru": "Страна"},
    "btn_name": {"en": "Name", "ru": "Имя"},
    "btn_address": {"en": "Address", "ru": "Адрес"},
    "btn_vat_id": {"en": "VAT id", "ru": "VAT-номер"},
    "btn_clear_vat_id": {"en": "Remove VAT id", "ru": "Удалить VAT-номер"},
    "btn_method": {"en": "Payment method", "ru": "Способ оплаты"},
    "btn_remove_card": {"en": "Remove saved card", "ru": "Удалить сохранённую карту"},
    "btn_share_phone": {"en": "Share my phone number", "ru": "Поделиться номером телефона"},
    "ask_country": {
        "en": "Send your country as a two-letter code, for example DE, LT or US.",
        "ru": "Отправьте страну двухбуквенным кодом, например DE, LT или US.",
    },
    "ask_name": {
        "en": "Send the buyer's name for invoices (a person or a company).",
        "ru": "Отправьте имя покупателя для счетов (человек или компания).",
    },
    "ask_address": {
        "en": "Send the buyer's address for invoices.",
        "ru": "Отправьте адрес покупателя для счетов.",
    },
    "ask_vat_id": {
        "en": "Send your VAT id, for example DE136695976.",
        "ru": "Отправьте VAT-номер, например DE136695976.",
    },
    "bad_profile_value": {
        "en": "That doesn't fit: {error}. Try again or press Cancel.",
        "ru": "Не подходит: {error}. Попробуйте ещё раз или нажмите «Отмена».",
    },
    "choose_method": {"en": "Choose the default payment method:", "ru": "Выберите способ оплаты:"},
    "ask_phone": {
        "en": "Press the button below to share your phone number: its country confirms the"
        " country of your billing details.",
        "ru": "Нажмите кнопку ниже, чтобы поделиться номером телефона: его страна подтверждает"
        " страну в платёжных данных.",
    },
    "phone_saved": {
        "en": "Thank you. Phone country: {country}.",
        "ru": "Спасибо. Страна телефона: {country}.",
    },
    "start_first": {"en": "Please send /start first.", "ru": "Сначала отправьте /start."},
    # --- balance --------------------------------------------------------------------------
    "balance_title": {"en": "Balance", "ru": "Баланс"},
    "balance_empty": {
        "en": "Your balance is empty. Top up to pay for subscriptions and renewals.",
        "ru": "Баланс пуст. Пополните его, чтобы оплачивать подписки и продления.",
    },
    "balance_wallet": {"en": "{currency}: {balance}", "ru": "{currency}: {balance}"},
    "balance_limit": {"en": " (credit limit {limit})", "ru": " (кредитный лимит {limit})"},
    "balance_entry": {"en": "  {at} {amount} — {reason}", "ru": "  {at} {amount} — {reason}"},
    # --- payments -------------------------------------------------------------------------
    "paid_purchase": {
        "en": "Payment of {amount} received (order {order}). {product} is active until"
        " {expiry}. Your invoice follows.",
        "ru": "Оплата {amount} получена (заказ {order}). {product} действует до {expiry}."
        " Счёт-фактура — следующим сообщением.",
    },
    "paid_top_up": {
        "en": "Payment of {amount} received (order {order}) and added to your balance.",
        "ru": "Оплата {amount} получена (заказ {order}) и зачислена на баланс.",
    },
    "refund_debited": {
        "en": "Order {order}: {amount} was refunded to your card or account and taken from"
        " your balance. Balance now: {balance}.",
        "ru": "Заказ {order}: {amount} возвращено на вашу карту или счёт и списано с"
        " баланса. Баланс сейчас: {balance}.",
    },
    "chargeback_debited": {
        "en": "Order {order}: the payment of {amount} was disputed with your bank, so it was"
        " taken from your balance. Balance now: {balance}. /paysupport if this is a mistake.",
        "ru": "Заказ {order}: платёж на {amount} оспорен через ваш банк, поэтому сумма"
        " списана с баланса. Баланс сейчас: {balance}. /paysupport, если это ошибка.",
    },
    "refund_reversed": {
        "en": "Order {order}: {amount} taken back earlier has been returned to your balance."
        " Balance now: {balance}.",
        "ru": "Заказ {order}: ранее списанные {amount} возвращены на баланс."
        " Баланс сейчас: {balance}.",
    },
    "paid_kept_on_balance": {
        "en": "Payment of {amount} received (order {order}). The purchase could not be"
        " completed any more (the subscription or its price changed meanwhile), so the money"
        " is on your balance: open /subscriptions to use it.",
        "ru": "Оплата {amount} получена (заказ {order}). Покупку завершить уже нельзя"
        " (подписка или цена изменились), поэтому деньги зачислены на баланс: откройте"
        " /subscriptions, чтобы ими воспользоваться.",
    },
    "payment_failed": {
        "en": "The payment for order {order} did not go through: {reason}. Nothing was"
        " charged; you can try again from /balance.",
        "ru": "Оплата заказа {order} не прошла: {reason}. Деньги не списаны; попробуйте"
        " ещё раз через /balance.",
    },
    "payment_failed_purchase": {
        "en": "The payment for order {order} did not go through: {reason}. Nothing was"
        " charged; open /subscriptions to try again or pick another method.",
        "ru": "Оплата заказа {order} не прошла: {reason}. Деньги не списаны; откройте"
        " /subscriptions, чтобы попробовать снова или выбрать другой способ.",
    },
    "btn_pay_other": {
        "en": "Pay {missing} by card, PayPal, crypto…",
        "ru": "Оплатить {missing} картой, PayPal, криптой…",
    },
    "pay_choose_method": {
        "en": "{what}\nAmount to pay: {amount} (whatever is not needed stays on your balance)."
        "\nHow would you like to pay?",
        "ru": "{what}\nК оплате: {amount} (лишнее останется на балансе).\nКак вы хотите оплатить?",
    },
    "pay_choose_method_top_up": {
        "en": "Top-up of {amount}. How would you like to pay?",
        "ru": "Пополнение на {amount}. Как вы хотите оплатить?",
    },
    "method_tg": {"en": "Card in Telegram", "ru": "Картой в Telegram"},
    "method_sc": {"en": "Card (Stripe page)", "ru": "Картой (страница Stripe)"},
    "method_ss": {
        "en": "Card (Stripe), save for auto-renewal",
        "ru": "Картой (Stripe), сохранить для автопродления",
    },
    "method_pp": {"en": "PayPal", "ru": "PayPal"},
    "method_cr": {"en": "Crypto: BTC, ETH, USDT, TON", "ru": "Криптовалютой: BTC, ETH, USDT, TON"},
    "method_bk": {"en": "Bank transfer (payment order PDF)", "ru": "Банковский перевод (PDF)"},
    "pay_link": {
        "en": "Order {order}: {amount}. Open the payment page with the button below; the bot"
        " tells you here when the money arrives.",
        "ru": "Заказ {order}: {amount}. Откройте страницу оплаты кнопкой ниже; бот сообщит"
        " здесь, когда деньги поступят.",
    },
    "btn_open_payment": {"en": "Pay {amount}", "ru": "Оплатить {amount}"},
    "pay_invoice_sent": {
        "en": "Order {order}: {amount}. The invoice to pay by card is below.",
        "ru": "Заказ {order}: {amount}. Счёт для оплаты картой — ниже.",
    },
    "pay_bank_sent": {
        "en": "Order {order}: transfer {amount} using the payment order below and quote {order}"
        " as the reference. Support credits it when the money arrives.",
        "ru": "Заказ {order}: переведите {amount} по платёжному поручению ниже, указав {order}"
        " в назначении платежа. Поддержка зачислит деньги, когда они поступят.",
    },
    "pay_provider_down": {
        "en": "The payment service is not answering right now. Nothing was charged; please"
        " try again in a minute or choose another method.",
        "ru": "Платёжный сервис сейчас не отвечает. Деньги не списаны; попробуйте через минуту"
        " или выберите другой способ.",
    },
    "pay_covered_now": {
        "en": "Your balance covers this now: pay from the balance instead.",
        "ru": "Теперь баланса хватает: оплатите с баланса.",
    },
    "top_up_currency": {
        "en": "Which balance would you like to top up?",
        "ru": "Какой баланс пополнить?",
    },
    "top_up_amount": {
        "en": "How much would you like to add to your {currency} balance?",
        "ru": "Сколько добавить на баланс в {currency}?",
    },
    "btn_other_amount": {"en": "Other amount", "ru": "Другая сумма"},
    "ask_amount": {
        "en": "Send the amount in {currency}, for example 25 or 25.50 (from {low} to {high}).",
        "ru": "Отправьте сумму в {currency}, например 25 или 25.50 (от {low} до {high}).",
    },
    "bad_amount": {
        "en": "That is not an amount from {low} to {high}. Send a number like 25.50, or /cancel.",
        "ru": "Это не сумма от {low} до {high}. Отправьте число вроде 25.50 или /cancel.",
    },
    "pre_checkout_refused": {
        "en": "This order can no longer be paid (it was paid already or has changed). Open"
        " /balance or /subscriptions to start again.",
        "ru": "Этот заказ уже нельзя оплатить (он оплачен или изменился). Откройте /balance"
        " или /subscriptions, чтобы начать заново.",
    },
    # --- the renewal sweep --------------------------------------------------------------------
    "remind_auto": {
        "en": "{product} for {customer} ends on {expiry}. Auto-renewal is on: {total} will be"
        " charged {source} on {attempt}.",
        "ru": "{product} для {customer} заканчивается {expiry}. Автопродление включено:"
        " {total} будет списано {source} {attempt}.",
    },
    "remind_manual": {
        "en": "{product} for {customer} ends on {expiry}. Auto-renewal is off: renew now to"
        " keep it ({total} for {months} months).",
        "ru": "{product} для {customer} заканчивается {expiry}. Автопродление выключено:"
        " продлите, чтобы сохранить подписку ({total} за {months} мес.).",
    },
    "remind_auto_failed": {
        "en": "{product} for {customer} ends on {expiry} and the automatic renewal did not go"
        " through. Renew now to keep it ({total} for {months} months).",
        "ru": "{product} для {customer} заканчивается {expiry}, а автопродление не прошло."
        " Продлите, чтобы сохранить подписку ({total} за {months} мес.).",
    },
    "remind_customer": {
        "en": "Your {product} ends on {expiry}; user {payer} pays for it.",
        "ru": "Ваша подписка {product} заканчивается {expiry}; её оплачивает пользователь {payer}.",
    },
    "source_wallet": {"en": "from your balance", "ru": "с баланса"},
    "source_card": {"en": "from your saved card", "ru": "с сохранённой карты"},
    "remind_auto_unfunded": {
        "en": "{product} for {customer} ends on {expiry}. Auto-renewal is on, but your balance"
        " does not cover {total} and no card is saved: top up before {attempt}.",
        "ru": "{product} для {customer} заканчивается {expiry}. Автопродление включено, но"
        " баланса не хватает на {total}, а карта не сохранена: пополните баланс до {attempt}.",
    },
    "renewed_auto": {
        "en": "{product} for {customer} was renewed until {expiry}: {total} paid by {paid_by}."
        " The invoice follows.",
        "ru": "{product} для {customer} продлена до {expiry}: {total}, оплата: {paid_by}."
        " Счёт — следующим сообщением.",
    },
    "renewal_failed_no_funds": {
        "en": "Could not renew {product} for {customer}: the balance does not cover {total} and"
        " no card is saved. It ends on {expiry}; top up or pay to keep it.",
        "ru": "Не удалось продлить {product} для {customer}: баланса не хватает на {total}, а"
        " карта не сохранена. Подписка закончится {expiry}; пополните баланс или оплатите.",
    },
    "renewal_failed_declined": {
        "en": "Could not renew {product} for {customer}: the card was declined. It ends on"
        " {expiry}; top up or pay another way to keep it.",
        "ru": "Не удалось продлить {product} для {customer}: банк отклонил карту. Подписка"
        " закончится {expiry}; пополните баланс или оплатите иначе.",
    },
    "renewal_failed_needs_authentication": {
        "en": "Could not renew {product} for {customer}: your bank asks you to confirm the"
        " payment. Open the payment page to pay; it ends on {expiry} otherwise.",
        "ru": "Не удалось продлить {product} для {customer}: банк просит подтвердить платёж."
        " Откройте страницу оплаты; иначе подписка закончится {expiry}.",
    },
    "renewal_failed_no_billing_country": {
        "en": "Could not renew {product} for {customer}: set your country in /billing first."
        " It ends on {expiry}.",
        "ru": "Не удалось продлить {product} для {customer}: сначала укажите страну в /billing."
        " Подписка закончится {expiry}.",
    },
    "expired_payer": {
        "en": "{product} for {customer} has expired; the account is on Free now. Open"
        " /subscriptions to connect it again.",
        "ru": "{product} для {customer} истекла; аккаунт переведён на Free. Откройте"
        " /subscriptions, чтобы подключить снова.",
    },
    "expired_customer": {
        "en": "Your {product} has expired; your account is on Free now.",
        "ru": "Ваша подписка {product} истекла; аккаунт переведён на Free.",
    },
    "btn_pay": {"en": "Pay", "ru": "Оплатить"},
    "btn_pay_page": {"en": "Confirm the payment", "ru": "Подтвердить платёж"},
    "invoices_title": {"en": "Invoices:", "ru": "Счета:"},
    "btn_invoice": {"en": "{number} · {amount}", "ru": "{number} · {amount}"},
    # --- renewals: expired, changed price, a card payment under way (SPEC §3, §5.2, §5.4)
    "renew_quote_intro_expired": {
        "en": "Renewal: this subscription ended on {expiry}, so the new period starts now"
        " ({start}) and ends {new}.",
        "ru": "Продление: подписка закончилась {expiry}, поэтому новый период начнётся сейчас"
        " ({start}) и закончится {new}.",
    },
    "renew_quote_changed": {
        "en": "The price changed since you confirmed it; nothing was charged. Here is the new"
        " price: confirm it to renew.",
        "ru": "Цена изменилась после вашего подтверждения; ничего не списано. Вот новая цена:"
        " подтвердите её, чтобы продлить.",
    },
    "renew_in_progress": {
        "en": "A card payment for this renewal is in progress; try again in a few minutes.",
        "ru": "Оплата этого продления картой уже идёт; попробуйте через несколько минут.",
    },
    "renew_slot_taken": {
        "en": "This user already has another active {product} subscription; renew or change"
        " that one instead.",
        "ru": "У этого пользователя уже есть другая активная подписка {product}; продлите или"
        " измените её.",
    },
    "renewal_failed_refused": {
        "en": "Could not renew {product} for {customer}: {reason}. It ends on {expiry}; top up"
        " or pay another way to keep it.",
        "ru": "Не удалось продлить {product} для {customer}: {reason}. Подписка закончится"
        " {expiry}; пополните баланс или оплатите иначе.",
    },
    # --- groups (SPEC §10: private chats only) ------------------------------------------
    "private_only": {
        "en": "I work only in a private chat. Open a chat with me and send /start there.",
        "ru": "Я работаю только в личном чате. Откройте чат со мной и отправьте там /start.",
    },
}


def t(lang: str, key: str, **values: object) -> str:
    variants = TEXTS[key]
    template = variants.get(lang) or variants["en"]
    return template.format(**values) if values else template


def pay_from_balance_text(
    lang: str, currency: Currency, *, balance: int, credit_limit: int, total: int
) -> str:
    """The line above «Pay ... from balance»: the balance, and when the payment takes it
    below zero, what it will be after and the credit limit that allows it (SPEC §4)."""
    shown = format_minor(balance, currency)
    if balance - total >= 0:
        return t(lang, "quote_balance_ok", currency=currency.value, balance=shown)
    return t(
        lang,
        "quote_balance_credit",
        currency=currency.value,
        balance=shown,
        after=format_minor(balance - total, currency),
        limit=format_minor(credit_limit, currency),
    )


def date_text(moment: datetime, lang: str) -> str:
    """Dates as people read them: "1 Mar 2027 12:00 UTC" (times matter for short periods)."""
    months = {
        "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
        "ru": "янв фев мар апр мая июн июл авг сен окт ноя дек",
    }
    names = (months.get(lang) or months["en"]).split()
    return f"{moment.day} {names[moment.month - 1]} {moment.year} {moment:%H:%M} UTC"
