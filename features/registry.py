"""One registry type for everything iqabench looks up by name: methods, datasets, feature
extractors and full-reference metrics.

A :class:`Registry` maps names to entries (a ``MethodInfo``, a ``DatasetInfo``, an
``Extractor``, an ``FRMetric``: each carries its metadata beside its code).  It is modelled on
lm-evaluation-harness's ``lm_eval.api.registry.Registry`` and pyiqa's ``pyiqa.utils.registry``:

* **decorator or direct registration**: the type-specific helpers (``register_method``,
  ``register_dataset``, ``register_extractor``, ``register_metric``) build the entry and call
  :meth:`Registry.register`;
* **a duplicate name is an error** (:class:`DuplicateNameError`) naming both places (file and
  line of each registration, or the entry point), unless the same place registers it again
  (a module executed twice, e.g. a plugin file given twice);
* **lazy entries**: :meth:`Registry.register_lazy` stores ``"module:attr"`` (or ``"module"``,
  whose import registers the name itself) and imports it on first use;
* **entry points**: every entry point of the registry's group (``iqabench.methods``,
  ``iqabench.datasets``, ``iqabench.extractors``, ``iqabench.fr_metrics``) of an installed
  distribution becomes a lazy entry; rescanned when ``sys.path`` changes;
* **built-ins without hand-kept lists**: every public module (name not starting with ``_``) of
  the registry's ``packages`` is imported (:mod:`pkgutil`) before the first lookup, so a new
  built-in module registers itself by being there.

An entry that fails to load (a broken plugin) raises :class:`PluginError` naming it and its
origin on lookup; listing every entry (:meth:`Registry.values`) warns about it and goes on.

This module imports only the standard library, so ``features/`` and ``benchmark/`` both use it.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import pkgutil
import sys
import threading
import warnings
from dataclasses import dataclass
from collections.abc import MutableMapping
from typing import Any, Callable, Generic, Iterator, Sequence, TypeVar

__all__ = ["Registry", "DuplicateNameError", "UnknownNameError", "PluginError", "registration_helpers",
           "load_plugin", "ALL_REGISTRIES", "Origin"]

T = TypeVar("T")

#: modules whose frames are skipped when finding where an entry was registered (the helpers that
#: build entries and call :meth:`Registry.register` on behalf of their caller)
_HELPER_MODULES: set[str] = {__name__, "contextlib"}

#: iqabench's own packages: an entry registered by one of their modules is a built-in
PROJECT_PACKAGES = ("features", "benchmark", "deep")

#: every registry created, by kind (the CLI loads plugins into all of them)
ALL_REGISTRIES: dict[str, "Registry[Any]"] = {}


def registration_helpers(*modules: str) -> None:
    """Declare modules whose functions register entries for their caller (their frames are skipped
    when recording where an entry was registered)."""
    _HELPER_MODULES.update(modules)


class DuplicateNameError(ValueError):
    """Two different places registered the same name."""


class UnknownNameError(KeyError):
    """A name no entry has (the message lists the known names)."""

    def __str__(self) -> str:      # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class PluginError(ImportError):
    """An entry point, lazy entry or plugin that cannot be loaded (names it and the reason)."""


@dataclass(frozen=True)
class Origin:
    """Where an entry was registered: ``text`` (file:line, or the entry point) for messages,
    ``module`` (the registering module) to tell built-ins from plugins."""

    text: str
    module: str = ""


@dataclass(frozen=True)
class _Lazy:
    target: str          # "module:attr" or "module"
    origin: Origin


def _caller_origin() -> Origin:
    """File:line and module of the first frame outside the registration helpers."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in _HELPER_MODULES:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Origin("<unknown>")
    return Origin(f"{frame.f_code.co_filename}:{frame.f_lineno}", str(frame.f_globals.get("__name__", "")))


def _entry_point_origin(ep: importlib.metadata.EntryPoint, group: str) -> Origin:
    dist = getattr(ep, "dist", None)
    by = f" of distribution {dist.name} {dist.version}" if dist is not None else ""
    return Origin(f"entry point '{ep.name} = {ep.value}' (group {group}){by}", ep.value.partition(":")[0])


def _within(module: str, package: str) -> bool:
    """``module`` is ``package`` or inside it."""
    return bool(package) and (module == package or module.startswith(package + "."))


def _import_target(target: str) -> Any:
    """The object ``module:attr`` names (dotted attr allowed), or the module itself for ``module``."""
    mod, _, attr = target.partition(":")
    obj: Any = importlib.import_module(mod.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Named entries of one kind (see the module docstring).

    ``kind`` names the entries in messages (``"method"``); ``group`` is the entry-point group;
    ``packages`` are imported module by module before the first lookup; ``entry_type`` is the
    class every entry must be an instance of; ``normalize`` maps a name to its key (e.g.
    ``str.lower`` for case-insensitive names); ``check(entry)`` raises ``ValueError`` for an
    invalid entry.
    """

    def __init__(self, kind: str, *, group: str | None = None, packages: Sequence[str] = (),
                 entry_type: type | tuple[type, ...] | None = None,
                 normalize: Callable[[str], str] | None = None,
                 check: Callable[[Any], None] | None = None):
        self.kind = kind
        self.group = group
        self.packages = tuple(packages)
        self.entry_type = entry_type
        self._normalize = normalize or (lambda s: s)
        self._check = check
        self._entries: dict[str, T] = {}
        self._origins: dict[str, Origin] = {}
        self._lazy: dict[str, _Lazy] = {}
        self._aliases: dict[str, str] = {}       # normalised alias -> key
        self._broken: dict[str, str] = {}        # key -> why it could not be loaded
        self._builtins_loaded = False
        self._loading_builtins = False
        self._ep_key: tuple[str, ...] | None = None
        self._sources: list[Callable[[], None]] = []
        self._in_sources = False
        self._lock = threading.RLock()
        ALL_REGISTRIES[kind] = self

    # ------------------------------------------------------------------ registration
    def register(self, name: str, entry: T, *, aliases: Sequence[str] = (),
                 origin: str | Origin | None = None) -> T:
        """Add ``entry`` under ``name`` (and ``aliases``); :class:`DuplicateNameError` when another
        place already holds one of these names.  ``origin`` overrides the recorded place (default:
        the caller's file and line).  Returns ``entry``."""
        where = _caller_origin()
        if isinstance(origin, Origin):
            where = origin
        elif origin is not None:
            where = Origin(origin, where.module)
        return self._register(name, entry, tuple(aliases), where)

    def _register(self, name: str, entry: T, aliases: Sequence[str], where: Origin) -> T:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if self.entry_type is not None and not isinstance(entry, self.entry_type):
            raise TypeError(f"{self.kind} {name!r}: expected a {self._type_name()}, got {type(entry).__name__}")
        if self._check is not None:
            self._check(entry)
        key = self._normalize(name)
        with self._lock:
            for n in (key, *(self._normalize(a) for a in aliases)):
                self._refuse_duplicate(n, key, where)
            self._lazy.pop(key, None)
            self._broken.pop(key, None)
            self._entries[key] = entry
            self._origins[key] = where
            for a in aliases:
                self._aliases[self._normalize(a)] = key
        return entry

    def _refuse_duplicate(self, n: str, key: str, where: Origin) -> None:
        owner = self._aliases.get(n, n)
        if owner in self._entries:
            old = self._origins.get(owner, Origin("<unknown>"))
            if old.text == where.text:
                return            # the same place again: a module executed twice
            raise DuplicateNameError(
                f"{self.kind} {n!r} is registered twice: at {old.text} and at {where.text}; "
                f"rename one of them")
        lazy = self._lazy.get(owner)
        if lazy is not None and owner == key and _within(where.module, lazy.origin.module):
            return                # the lazy entry's own module registering it on import
        if lazy is not None and lazy.origin.text != where.text:
            raise DuplicateNameError(
                f"{self.kind} {n!r} is registered twice: by {lazy.origin.text} and at {where.text}; "
                f"rename one of them")

    def register_lazy(self, name: str, target: str, *, origin: str | None = None) -> None:
        """Add ``name`` -> ``"module:attr"`` (or ``"module"``, whose import registers ``name``),
        imported on first use."""
        if ":" in target:
            mod, _, attr = target.partition(":")
            if not mod.strip() or not attr.strip():
                raise ValueError(f"lazy {self.kind} {name!r}: expected 'module:attr', got {target!r}")
        # the module is the target's: that module registering the name on import is not a duplicate
        where = Origin(_caller_origin().text if origin is None else origin, target.partition(":")[0].strip())
        key = self._normalize(name)
        with self._lock:
            self._refuse_duplicate(key, key, where)
            if key not in self._entries:
                self._lazy[key] = _Lazy(target, where)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (and its aliases); nothing happens when it is absent."""
        key = self._key(name)
        with self._lock:
            self._entries.pop(key, None)
            self._origins.pop(key, None)
            self._lazy.pop(key, None)
            self._broken.pop(key, None)
            for a in [a for a, k in self._aliases.items() if k == key]:
                del self._aliases[a]

    # ------------------------------------------------------------------ discovery
    def load_builtins(self) -> None:
        """Import every public module of :attr:`packages` (once)."""
        if self._builtins_loaded or self._loading_builtins:
            return
        self._loading_builtins = True
        try:
            for pkg_name in self.packages:
                pkg = importlib.import_module(pkg_name)
                for mod in sorted(pkgutil.iter_modules(getattr(pkg, "__path__", []), pkg_name + "."),
                                  key=lambda m: m.name):
                    if not mod.name.rsplit(".", 1)[-1].startswith("_"):
                        importlib.import_module(mod.name)
            self._builtins_loaded = True
        finally:
            self._loading_builtins = False

    def load_entry_points(self) -> None:
        """Add every entry point of :attr:`group` as a lazy entry (rescanned when ``sys.path`` changes)."""
        if self.group is None:
            return
        key = tuple(sys.path)
        if key == self._ep_key:
            return
        self._ep_key = key
        for ep in importlib.metadata.entry_points(group=self.group):
            origin = _entry_point_origin(ep, self.group)
            k = self._normalize(ep.name)
            lazy = self._lazy.get(k)
            if lazy is not None and lazy.target == ep.value:
                continue
            if k in self._entries and _within(self._origins[k].module, origin.module):
                continue          # already imported (registered by its own module)
            self.register_lazy(ep.name, ep.value, origin=origin.text)

    def add_source(self, source: Callable[[], None]) -> None:
        """``source()`` registers entries derived from another registry (e.g. a method per FR
        metric); it runs at every :meth:`load`, after the built-ins and entry points, and must
        register only what is missing."""
        self._sources.append(source)

    def load(self) -> None:
        """Built-ins, then entry points, then the derived entries (:meth:`add_source`)."""
        self.load_builtins()
        self.load_entry_points()
        if self._sources and not self._in_sources:
            self._in_sources = True
            try:
                for source in list(self._sources):
                    source()
            finally:
                self._in_sources = False

    # ------------------------------------------------------------------ lookup
    def _key(self, name: str) -> str:
        key = self._normalize(name)
        return self._aliases.get(key, key)

    def _resolve(self, key: str) -> T:
        lazy = self._lazy[key]
        try:
            obj = _import_target(lazy.target)
        except Exception as exc:
            reason = (f"{self.kind} {key!r} ({lazy.origin.text}) cannot be loaded: "
                      f"{type(exc).__name__}: {exc}")
            self._broken[key] = reason
            self._lazy.pop(key, None)
            raise PluginError(reason) from exc
        with self._lock:
            if key in self._entries:          # its module registered it on import
                self._lazy.pop(key, None)
                return self._entries[key]
            if self.entry_type is None or isinstance(obj, self.entry_type):
                got = getattr(obj, "name", key)
                if self._normalize(str(got)) != key:
                    reason = f"{lazy.origin.text} names a {self.kind} called {got!r}, not {key!r}"
                else:
                    return self._register(key, obj, (), lazy.origin)
            else:
                reason = (f"{lazy.origin.text}: importing {lazy.target} did not register a {self.kind} "
                          f"named {key!r}" + (f" (it registered {self._registered_by(lazy)})"
                                              if self._registered_by(lazy) else ""))
            self._broken[key] = reason
            self._lazy.pop(key, None)
        raise PluginError(reason)

    def _registered_by(self, lazy: _Lazy) -> str:
        mod = lazy.target.partition(":")[0]
        return ", ".join(repr(k) for k, o in self._origins.items() if o.module == mod)

    def get(self, name: str) -> T:
        """The entry called ``name`` (built-ins and entry points are loaded first when needed)."""
        key = self._key(name)
        if key not in self._entries and key not in self._lazy:
            self.load()
            key = self._key(name)
        if key in self._entries:
            return self._entries[key]
        if key in self._lazy:
            return self._resolve(key)
        if key in self._broken:
            raise PluginError(self._broken[key])
        raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {sorted(self.names())}")

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self.load()
        key = self._key(name)
        return key in self._entries or key in self._lazy

    def names(self) -> list[str]:
        """Every name, lazy ones included (nothing is imported but the built-ins)."""
        self.load()
        return list(dict.fromkeys([*self._entries, *self._lazy]))

    def values(self) -> list[T]:
        """Every entry, lazy ones imported; one that cannot be loaded is skipped with a warning."""
        self.load()
        for key in list(self._lazy):
            try:
                self._resolve(key)
            except PluginError as exc:
                warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        vals = self.values()
        return list(zip(list(self._entries), vals))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def origin(self, name: str) -> str:
        """Where ``name`` was registered: ``file:line``, or the entry point."""
        return self.where(name).text

    def where(self, name: str) -> Origin:
        """Where ``name`` was registered, with the registering module."""
        key = self._key(name)
        if key in self._origins:
            return self._origins[key]
        if key in self._lazy:
            return self._lazy[key].origin
        raise UnknownNameError(f"unknown {self.kind} {name!r}")

    def is_builtin(self, name: str) -> bool:
        """Registered by a module of iqabench itself (not by a plugin)."""
        mod = self.where(name).module
        return any(_within(mod, p) for p in PROJECT_PACKAGES)

    @property
    def broken(self) -> dict[str, str]:
        """Entries that could not be loaded -> the reason."""
        return dict(self._broken)

    # ------------------------------------------------------------------ tests and plugins
    @contextlib.contextmanager
    def temporarily(self, *entries: T, only: bool = False) -> Iterator["Registry[T]"]:
        """Within the block, ``entries`` replace any entry of the same name (``only=True``: they are
        the only entries, nothing is discovered); everything is restored afterwards.  For tests."""
        with self._lock:
            # discover first, so that the state restored afterwards is complete: a built-in module
            # imported for the first time inside the block registers once and would be lost with it
            self.load()
            saved = (dict(self._entries), dict(self._origins), dict(self._lazy), dict(self._aliases),
                     dict(self._broken), self._builtins_loaded, self._ep_key, list(self._sources))
            if only:
                self._sources.clear()
                self._entries.clear()
                self._origins.clear()
                self._lazy.clear()
                self._aliases.clear()
                self._broken.clear()
                self._builtins_loaded = True
                self._ep_key = tuple(sys.path)
            where = _caller_origin()
            for e in entries:
                self.unregister(getattr(e, "name"))
                self._register(getattr(e, "name"), e, tuple(getattr(e, "aliases", ()) or ()), where)
        try:
            yield self
        finally:
            with self._lock:
                (self._entries, self._origins, self._lazy, self._aliases, self._broken,
                 self._builtins_loaded, self._ep_key, self._sources) = saved
                if only:
                    self._ep_key = None

    def legacy_view(self) -> "MutableMapping[str, T]":
        """A ``dict``-like view (``view[name] = entry`` replaces, ``del view[name]`` removes) for code
        written against the dictionaries the registries replaced; new code uses the methods above."""
        return _LegacyView(self)

    def _type_name(self) -> str:
        t = self.entry_type
        if isinstance(t, tuple):
            return " or ".join(x.__name__ for x in t)
        return t.__name__ if t is not None else "object"

    def __repr__(self) -> str:
        return (f"Registry({self.kind!r}, group={self.group!r}, {len(self._entries)} loaded, "
                f"{len(self._lazy)} lazy)")


class _LegacyView(MutableMapping[str, T]):
    def __init__(self, registry: Registry[T]):
        self._r = registry

    def __getitem__(self, name: str) -> T:
        try:
            return self._r.get(name)
        except UnknownNameError as exc:
            raise KeyError(name) from exc

    def __setitem__(self, name: str, entry: T) -> None:
        self._r.load()
        self._r.unregister(name)
        self._r.register(name, entry, aliases=tuple(getattr(entry, "aliases", ()) or ()))

    def __delitem__(self, name: str) -> None:
        if name not in self._r:
            raise KeyError(name)
        self._r.unregister(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._r.names())

    def __len__(self) -> int:
        return len(self._r.names())


# ---------------------------------------------------------------------------------------- plugins
_PLUGINS: dict[str, str] = {}      # resolved file or module name -> module name


def load_plugin(spec: str) -> str:
    """Import a plugin: a module name (``mypkg.iqa``) or a ``.py`` file; returns the module name.

    A file is imported under its own name with its folder put first on ``sys.path``, so that
    worker processes (joblib) can import it too; importing it registers its entries.  Loading the
    same plugin twice does nothing.  Raises :class:`PluginError` naming the plugin and the reason.
    """
    text = os.fspath(spec).strip()
    is_file = text.endswith(".py") or os.sep in text or (os.altsep and os.altsep in text)
    if is_file:
        path = os.path.abspath(os.path.expanduser(text))
        if path in _PLUGINS:
            return _PLUGINS[path]
        if not os.path.isfile(path):
            raise PluginError(f"--plugin {text}: no such file")
        if not path.endswith(".py"):
            raise PluginError(f"--plugin {text}: a plugin file must end in .py")
        name = os.path.splitext(os.path.basename(path))[0]
        if not name.isidentifier():
            raise PluginError(f"--plugin {text}: {name!r} is not a valid module name (rename the file)")
        have = sys.modules.get(name)
        if have is not None and os.path.abspath(getattr(have, "__file__", "") or "") != path:
            raise PluginError(f"--plugin {text}: a module named {name!r} is already imported from "
                              f"{getattr(have, '__file__', None) or 'elsewhere'}; rename the file")
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    else:
        path, name = text, text
        if text in _PLUGINS:
            return _PLUGINS[text]
    try:
        importlib.import_module(name)
    except (DuplicateNameError, PluginError):
        raise
    except Exception as exc:
        raise PluginError(f"--plugin {text}: cannot import it: {type(exc).__name__}: {exc}") from exc
    _PLUGINS[path] = name
    return name

