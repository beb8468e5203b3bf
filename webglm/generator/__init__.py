"""webglm.generator: cited answers from references, on any backend.

Public API::

    writer = AnswerWriter(make_backend(GenerateConfig()), GenerateConfig())
    candidates = writer.write(question, references, n=1)

Backends: ``llamacpp`` (GGUF, default: packaged SmolLM2-135M-Instruct Q4_1),
``transformers`` (any causal LM; bitsandbytes 8/4-bit on GPU), ``openai``
(any OpenAI-compatible server) and ``echo`` (extractive, deterministic).
Importing this package does not import torch or llama_cpp.
"""

from .backends import (BACKENDS, Backend, Completion, EchoBackend, LlamaCppBackend, SamplingParams, make_backend,
                       packaged_gguf)
from .citations import (check_citations, clean_citations, find_citations, rouge1_precision, split_sentences,
                        strip_think)
from .prompts import Prompt, Template, available_templates, build_prompt, load_template, render
from .writer import AnswerWriter

__all__ = [
    "AnswerWriter", "BACKENDS", "Backend", "Completion", "EchoBackend", "LlamaCppBackend", "Prompt",
    "SamplingParams", "Template", "available_templates", "build_prompt", "check_citations", "clean_citations",
    "find_citations", "load_template", "make_backend", "packaged_gguf", "render", "rouge1_precision",
    "split_sentences", "strip_think",
]
