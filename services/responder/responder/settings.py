from typing import ClassVar

from pydantic import SecretStr, model_validator

from common.settings import CommonSettings

DEFAULT_MODEL = "anthropic/claude-3.5-haiku"


class ResponderSettings(CommonSettings):
    dev_secret_fields: ClassVar[tuple[str, ...]] = ("internal_token",)

    service_name: str = "responder"

    # The LLM: an OpenAI-compatible chat-completions API (OpenRouter by default).
    llm_base_url: str = "https://openrouter.ai/api/v1"
    # Unset: the built-in offline responder answers from the knowledge base without an LLM.
    llm_api_key: SecretStr | None = None
    llm_model: str = DEFAULT_MODEL
    # Tried once the tenant's model keeps failing; unset: straight to the fallback message.
    llm_fallback_model: str | None = None
    llm_timeout_s: float = 30.0
    llm_max_attempts: int = 3
    llm_backoff_s: float = 1.0
    # OpenRouter's recommended attribution headers.
    llm_referer: str = "https://github.com/whatsapp-ai-support"
    llm_title: str = "WhatsApp AI support"
    # The models a business may choose (everything else on the platform's key is refused),
    # each with its price: USD per million tokens, input and output. JSON in LLM_MODELS,
    # e.g. {"anthropic/claude-3.5-haiku": [0.8, 4.0]}. LLM_MODEL and LLM_FALLBACK_MODEL are
    # always offered: the operator chose them; unlisted, their cost shows as unknown.
    # The default: list prices of common models, OpenRouter's names and OpenAI's own.
    llm_models: dict[str, tuple[float, float]] = {
        DEFAULT_MODEL: (0.80, 4.00),
        "anthropic/claude-3-haiku": (0.25, 1.25),
        "anthropic/claude-haiku-4.5": (1.00, 5.00),
        "anthropic/claude-3.5-sonnet": (3.00, 15.00),
        "anthropic/claude-sonnet-4": (3.00, 15.00),
        "openai/gpt-4o-mini": (0.15, 0.60),
        "openai/gpt-4o": (2.50, 10.00),
        "openai/gpt-4.1-mini": (0.40, 1.60),
        "google/gemini-2.0-flash-001": (0.10, 0.40),
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4o": (2.50, 10.00),
        "gpt-4.1-mini": (0.40, 1.60),
    }
    # Each business's LLM spend per UTC calendar month (answers and previews); once reached,
    # customers get the fallback message and a person (0: unlimited).
    tenant_llm_budget_usd: float = 0.0
    # Per business, per minute (0: unlimited): previews (429 past it), and customer turns
    # the AI answers (past it a turn waits for the next minute, redelivered by the bus).
    preview_rate_per_min: int = 120
    ai_turns_per_min: int = 600

    knowledge_url: str = "http://localhost:8003"
    knowledge_timeout_s: float = 5.0
    # Below this calibrated score a passage is "nothing relevant": fallback + handoff. The
    # score is knowledge's calibrated e5 cosine; on its dev set (bench/knowledge_dev_eval.py)
    # 0.40 keeps 94 % of the answerable questions and refuses unrelated ones (weather,
    # football), but only 6 % of in-domain questions the documents do not answer (AUC
    # 0.72): knowledge README, "Retrieval quality".
    relevance_threshold: float = 0.40
    knowledge_passages: int = 4

    # A burst of customer messages gets one answer after this quiet period.
    quiet_period_s: float = 2.0
    # Knowledge search + LLM (retries and fallback model included) get this long per answer;
    # past it the customer gets the fallback message and the conversation is handed off.
    answer_deadline_s: float = 20.0
    # How long a claimed turn is ours. A replica that died mid-answer loses it after this
    # long and a redelivery answers instead; must exceed the deadline (room to record).
    turn_lease_s: float = 30.0

    @model_validator(mode="after")
    def _prices_and_budget_are_sane(self) -> "ResponderSettings":
        if any(price < 0 for prices in self.llm_models.values() for price in prices):
            raise ValueError("LLM_MODELS: prices may not be negative")
        if self.tenant_llm_budget_usd < 0:
            raise ValueError("TENANT_LLM_BUDGET_USD may not be negative")
        return self

    @property
    def allowed_models(self) -> set[str]:
        """What a business may choose: the priced list and the operator's own defaults."""
        chosen = {self.llm_model, *([self.llm_fallback_model] if self.llm_fallback_model else [])}
        return set(self.llm_models) | chosen

    @model_validator(mode="after")
    def _lease_outlives_the_deadline(self) -> "ResponderSettings":
        if self.answer_deadline_s <= 0 or self.turn_lease_s <= self.answer_deadline_s:
            raise ValueError("need 0 < ANSWER_DEADLINE_S < TURN_LEASE_S")
        return self
