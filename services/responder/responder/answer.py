"""One customer turn in, one outcome out: an answer grounded on the business's knowledge,
or the fallback message with a handoff to a person. Used by the consumer and the preview."""

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypedDict, Unpack

import structlog

from responder.formatting import split_message, to_whatsapp
from responder.handoff import asks_for_person
from responder.knowledge import Found, KnowledgeClient, KnowledgeUnavailable
from responder.llm import ChatClient, LLMUnavailable
from responder.models import AISettings
from responder.offline import extractive_answer
from responder.prompts import HANDOFF_MARKER, Passage, TemplateFailed, Turn, render
from responder.settings import ResponderSettings
from responder.spending import effective_model, price

log = structlog.get_logger(__name__)

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
MEDIA_REPLY = "Thanks! I can only read text here. Could you tell me in a message what you need?"


@dataclass(frozen=True)
class TurnInput:
    tenant_id: uuid.UUID
    business_name: str
    customer_name: str | None
    # The customer's messages since the last reply, oldest first (what must be answered).
    unanswered: Sequence[str]
    # Earlier conversation, oldest first (already cut to the history window).
    history: Sequence[Turn]
    latest_type: str = "text"
    # Set when the LLM may not be called (the business's AI budget is spent): the reason
    # for the handoff.
    llm_refused: str | None = None


@dataclass
class Outcome:
    kind: Literal["answer", "fallback"]
    parts: list[str]
    handoff_reason: str | None = None
    sources: list[Found] = field(default_factory=list)
    prompt: str = ""
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    # None: the model's price is unknown (it is not left at a made-up 0).
    cost_usd: float | None = 0.0

    @property
    def text(self) -> str:
        return "\n\n".join(self.parts)


class LLMUsage(TypedDict, total=False):
    """What an LLM call adds to an Outcome (some of Outcome's fields, by name)."""

    prompt: str
    model: str | None
    tokens_in: int
    tokens_out: int
    latency_ms: int
    cost_usd: float | None


class Answerer:
    def __init__(
        self, settings: ResponderSettings, knowledge: KnowledgeClient, chat: ChatClient | None
    ) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.chat = chat  # None: the offline responder

    async def answer(self, ai: AISettings, template: str, turn: TurnInput) -> Outcome:
        """The outcome within `answer_deadline_s`, whatever the knowledge or the LLM do."""
        started = time.perf_counter()
        deadline = self.settings.answer_deadline_s
        try:
            async with asyncio.timeout(deadline):
                outcome = await self._decide(ai, template, turn)
        except TimeoutError:
            # The calls in flight are cancelled: a late answer is never read, let alone sent.
            outcome = self._fallback(ai, f"no answer within the {deadline:g} s deadline")
        outcome.latency_ms = outcome.latency_ms or int((time.perf_counter() - started) * 1000)
        return outcome

    def _fallback(self, ai: AISettings, reason: str, **extra: Unpack[LLMUsage]) -> Outcome:
        log.info("responder.handoff", reason=reason)
        return Outcome(kind="fallback", parts=[ai.fallback_message], handoff_reason=reason, **extra)

    async def _decide(self, ai: AISettings, template: str, turn: TurnInput) -> Outcome:
        question = " ".join(t.strip() for t in turn.unanswered if t and t.strip())
        if not question:
            if turn.latest_type in MEDIA_TYPES and ai.media_without_text == "reply":
                return Outcome(kind="answer", parts=[MEDIA_REPLY])
            return self._fallback(ai, f"a {turn.latest_type} message without text")
        if keyword := asks_for_person(question, ai.handoff_keywords):
            return self._fallback(ai, f"the customer asked for a person ({keyword!r})")
        if turn.llm_refused and self.chat is not None:
            return self._fallback(ai, turn.llm_refused)
        try:
            found = await self.knowledge.search(
                turn.tenant_id, question, self.settings.knowledge_passages
            )
        except KnowledgeUnavailable as exc:
            return self._fallback(ai, f"the knowledge service is unavailable ({exc})")
        relevant = [f for f in found if f.score >= self.settings.relevance_threshold]
        if not relevant:
            best = max((f.score for f in found), default=0.0)
            return self._fallback(ai, f"nothing relevant in the knowledge base (best {best:.2f})")
        passages = [Passage(f.text, f.source, f.score) for f in relevant]
        try:
            prompt = await render(
                template,
                business_name=turn.business_name,
                persona=ai.persona,
                instructions=ai.instructions,
                passages=passages,
                history=turn.history,
                customer_name=turn.customer_name,
                now=datetime.now(UTC),
            )
        except TemplateFailed as exc:  # a person answers rather than nobody
            return self._fallback(ai, f"the prompt template failed: {exc}")
        if self.chat is None:
            text = extractive_answer(question, passages[0])
            return Outcome(
                kind="answer",
                parts=split_message(to_whatsapp(text)),
                sources=relevant[:1],
                prompt=prompt,
                model="offline",
            )
        return await self._ask_llm(ai, prompt, turn, relevant)

    async def _ask_llm(
        self, ai: AISettings, prompt: str, turn: TurnInput, relevant: list[Found]
    ) -> Outcome:
        assert self.chat is not None
        messages = [{"role": "system", "content": prompt}]
        for item in turn.history:
            role = "user" if item.role == "customer" else "assistant"
            messages.append({"role": role, "content": item.text})
        messages.append({"role": "user", "content": "\n".join(turn.unanswered)})
        models = [effective_model(self.settings, ai.model)]
        if self.settings.llm_fallback_model and self.settings.llm_fallback_model not in models:
            models.append(self.settings.llm_fallback_model)
        try:
            completion = await self.chat.complete(
                messages,
                models=models,
                temperature=ai.temperature,
                max_tokens=ai.max_output_tokens,
            )
        except LLMUnavailable as exc:
            return self._fallback(ai, f"the AI is unavailable ({str(exc)[:300]})", prompt=prompt)
        usage: LLMUsage = {
            "model": completion.model,
            "tokens_in": completion.tokens_in,
            "tokens_out": completion.tokens_out,
            "latency_ms": completion.latency_ms,
            # Priced by the model asked for: the provider may name it differently (a dated
            # version), and that name is not on the price list.
            "cost_usd": price(
                self.settings,
                completion.requested_model,
                completion.tokens_in,
                completion.tokens_out,
            ),
            "prompt": prompt,
        }
        if HANDOFF_MARKER in completion.text or not completion.text.strip():
            return self._fallback(ai, "the AI could not answer from the knowledge", **usage)
        return Outcome(
            kind="answer",
            parts=split_message(to_whatsapp(completion.text)),
            sources=relevant,
            **usage,
        )
