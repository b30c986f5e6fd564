"""Which language model writes answers, chosen in settings, behind one small seam.

All backends go through LlamaIndex's LLM integrations and are always passed
explicitly (LlamaIndex's global ``Settings.llm`` reaches for OpenAI packages).
The answerer only needs "send these chat messages, get text back within a
deadline"; :class:`ChatModel` is that, and it raises :class:`LLMError` for every
failure (timeout, HTTP error, garbage) so the answerer has one thing to catch.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config import Settings

log = logging.getLogger(__name__)

# One worker per concurrent answer is enough; a timed-out call keeps its thread
# until the client's own timeout fires, which is set to the same deadline.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="paperbot-llm")


class LLMError(RuntimeError):
    """The model could not give an answer in time; callers fall back."""


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


class ChatModel:
    """A LlamaIndex LLM with a hard deadline and uniform errors."""

    def __init__(self, llm: Any, name: str, timeout: float) -> None:
        self._llm = llm
        self.name = name
        self.timeout = timeout

    def chat(self, messages: Sequence[Message]) -> str:
        from llama_index.core.llms import ChatMessage

        chat_messages = [ChatMessage(role=m.role, content=m.content) for m in messages]
        future = _POOL.submit(self._llm.chat, chat_messages)
        try:
            response = future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise LLMError(f"{self.name} did not answer within {self.timeout:.0f}s") from exc
        except Exception as exc:  # any client, HTTP or decoding error of any integration
            log.warning("LLM %s failed: %s: %s", self.name, type(exc).__name__, exc)
            raise LLMError(f"{self.name} failed: {type(exc).__name__}") from exc
        text = getattr(getattr(response, "message", None), "content", None)
        if not isinstance(text, str) or not text.strip():
            raise LLMError(f"{self.name} returned an empty or malformed answer")
        return text


def build_chat_model(settings: Settings) -> ChatModel | None:
    """The configured LLM, or None for the extractive (model-free) answerer."""
    backend = settings.llm_backend
    if backend == "extractive":
        return None
    timeout = settings.llm_timeout
    model = settings.llm_model
    if not model:  # Settings refuses a model backend without one; this is for hand-built settings
        raise LLMError(f"PAPERBOT_LLM={backend} needs PAPERBOT_LLM_MODEL")
    if backend == "openai":
        from llama_index.llms.openai_like import OpenAILike

        openai_llm = OpenAILike(
            model=model,
            api_base=settings.llm_base_url,
            api_key=settings.llm_api_key.reveal() or "not-needed",
            is_chat_model=True,
            context_window=8192,
            max_tokens=512,
            temperature=0.1,
            timeout=timeout,
            max_retries=0,
        )
        return ChatModel(openai_llm, f"openai:{model}", timeout)
    if backend == "ollama":
        from llama_index.llms.ollama import Ollama

        ollama_llm = Ollama(
            model=model,
            base_url=settings.llm_base_url or "http://127.0.0.1:11434",
            request_timeout=timeout,
            context_window=8192,
            temperature=0.1,
        )
        return ChatModel(ollama_llm, f"ollama:{model}", timeout)
    if backend == "llamacpp":
        return ChatModel(_llama_cpp(settings), f"llamacpp:{model}", timeout)
    raise LLMError(f"unknown LLM backend {backend!r}")


def _llama_cpp(settings: Settings) -> Any:
    """An in-process GGUF model (the ``local-llm`` extra); never downloads."""
    from pathlib import Path

    try:
        from llama_index.llms.llama_cpp import LlamaCPP
    except ImportError as exc:
        raise LLMError("PAPERBOT_LLM=llamacpp needs the local-llm extra: pip install 'paperbot[local-llm]'") from exc
    path = Path(str(settings.llm_model)).expanduser()
    if not path.is_file():
        raise LLMError(f"GGUF model file not found: {path}")

    def messages_to_prompt(messages: Sequence[Any]) -> str:
        # ChatML, the template of the small instruct models people run locally (Qwen, SmolLM).
        parts = [f"<|im_start|>{m.role.value if hasattr(m.role, 'value') else m.role}\n{m.content}<|im_end|>" for m in messages]
        return "\n".join(parts) + "\n<|im_start|>assistant\n"

    def completion_to_prompt(completion: str) -> str:
        return f"<|im_start|>user\n{completion}<|im_end|>\n<|im_start|>assistant\n"

    return LlamaCPP(
        model_path=str(path),
        temperature=0.1,
        max_new_tokens=512,
        context_window=4096,
        messages_to_prompt=messages_to_prompt,
        completion_to_prompt=completion_to_prompt,
        verbose=False,
    )
