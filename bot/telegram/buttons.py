"""The buttons under an answer: more passages, and every source, by short id."""

from __future__ import annotations

from dataclasses import dataclass, replace

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType

from bot.conversation.followup import subject_words
from bot.telegram import formatting, texts
from bot.telegram.admission import admit
from bot.telegram.delivery import send, thread_of, typing
from bot.telegram.sessions import Session
from bot.telegram.state import BotContext, state

CALLBACK_PREFIX = "q:"  # every button of this module; other modules use other prefixes
CALLBACK_MORE = "q:m:"
CALLBACK_SOURCES = "q:s:"
MORE_PAGE = 3  # passages per "more results" message
MAX_SEARCH = 50
THREAD_ARTICLES = 5  # the best articles of an answer a button's thread is about


def keyboard(sid: str) -> InlineKeyboardMarkup:
    """Return the buttons under an answer; their data are short ids, never text."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.BUTTON_MORE, callback_data=CALLBACK_MORE + sid),
                InlineKeyboardButton(texts.BUTTON_SOURCES, callback_data=CALLBACK_SOURCES + sid),
            ]
        ]
    )


@dataclass(frozen=True)
class Place:
    """Where a button's answer goes: the chat, the message it replies to, the forum topic."""

    chat_id: int
    reply_to: int
    thread_id: int | None


async def on_button(update: Update, context: BotContext) -> None:
    """Show more passages, or every source, for an earlier answer."""
    st = state(context)
    query = update.callback_query
    assert query is not None
    data = query.data or ""
    action, sid = data[:4], data[4:]
    await st.sessions.fetch(sid)  # made under another replica's answer, perhaps
    session = st.sessions.get(sid) if action in (CALLBACK_MORE, CALLBACK_SOURCES) else None
    if session is None or query.message is None:
        await query.answer(texts.BUTTON_EXPIRED)
        return
    message = query.message
    thread_id = thread_of(message) if isinstance(message, Message) else None
    place = Place(message.chat.id, message.message_id, thread_id)
    if message.chat.type == ChatType.PRIVATE:
        await resume_thread(context, message.chat.id, session)
    if action == CALLBACK_SOURCES:
        await show_sources(context, query, session, place)
    else:
        await show_more(context, query, sid, session, place)


async def resume_thread(context: BotContext, chat_id: int, session: Session) -> None:
    """Make the answer's question and articles the chat's thread again: follow-ups read
    against it for the next ten minutes."""
    ids = session.articles[:THREAD_ARTICLES]
    found = await state(context).engine.store.get_articles(ids)
    title = next((found[i].title.strip() for i in ids if i in found), "") or texts.UNTITLED
    await state(context).repo.threads.keep(
        chat_id,
        question=session.question,
        subject=subject_words(session.question),
        articles=ids,
        title=title,
    )


async def show_sources(
    context: BotContext, query: CallbackQuery, session: Session, place: Place
) -> None:
    """Send every source found so far for the session's question."""
    await query.answer()
    found = await state(context).engine.store.get_articles(session.articles)
    articles = [found[i] for i in session.articles if i in found]
    messages = formatting.sources_messages(session.question, articles)
    await send(
        context.bot, place.chat_id, messages, reply_to=place.reply_to, thread_id=place.thread_id
    )


async def show_more(
    context: BotContext, query: CallbackQuery, sid: str, session: Session, place: Place
) -> None:
    """Send the next passages not shown yet; a search, so it counts against the limit."""
    st = state(context)
    await st.limiter.refresh(query.from_user.id)
    taken = admit(
        session.question,
        user_id=query.from_user.id,
        admin_ids=st.settings.admin_ids,
        limiter=st.limiter,
        max_chars=st.settings.max_question_chars,
    )
    if not taken.admitted:
        await query.answer(taken.refusal)
        return
    k = min(len(session.shown) + MORE_PAGE, MAX_SEARCH)
    async with typing(context.bot, place.chat_id, place.thread_id):
        # Within the question's time window again, read as of now.
        hits = await st.engine.search_as_asked(session.question, k, as_of=st.settings.moment())
    fresh = [h for h in hits if h.chunk.id not in session.shown][:MORE_PAGE]
    if not fresh:
        await query.answer(texts.NO_MORE_RESULTS)
        return
    await query.answer()
    st.sessions.update(
        sid,
        replace(
            session,
            shown=session.shown + tuple(h.chunk.id for h in fresh),
            articles=tuple(dict.fromkeys(session.articles + tuple(h.article.id for h in fresh))),
        ),
    )
    await st.sessions.shared()  # the next press may land on another replica
    await send(
        context.bot,
        place.chat_id,
        formatting.more_messages(session.question, fresh),
        reply_to=place.reply_to,
        markup=keyboard(sid),
        thread_id=place.thread_id,
    )
