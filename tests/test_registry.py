"""The one Registry type (features/registry.py) and the four registries built on it."""
from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass

import pytest

from features.registry import DuplicateNameError, PluginError, Registry, UnknownNameError


@dataclass(frozen=True)
class Entry:
    name: str
    value: int = 0
    aliases: tuple[str, ...] = ()


def _write(folder, rel, text):
    p = folder / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
    return p


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A folder on sys.path whose modules are forgotten after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _dist(folder, name, groups: dict[str, dict[str, str]]):
    """A minimal installed distribution (``.dist-info``) declaring entry points."""
    info = folder / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, eps in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_register_get_and_a_duplicate_names_both_places():
    reg: Registry[Entry] = Registry("thing", entry_type=Entry)
    reg.register("a", Entry("a", 1))
    assert reg.get("a").value == 1 and "a" in reg and reg.names() == ["a"]
    with pytest.raises(DuplicateNameError) as err:
        reg.register("a", Entry("a", 2))
    msg = str(err.value)
    assert msg.count("test_registry.py:") == 2 and "'a'" in msg      # both registrations, by file and line
    assert reg.get("a").value == 1
    with pytest.raises(UnknownNameError, match=r"unknown thing 'b'; known: \['a'\]"):
        reg.get("b")
    with pytest.raises(KeyError):                                      # still a KeyError for older callers
        reg.get("b")
    with pytest.raises(TypeError, match="expected a Entry"):
        reg.register("c", object())


def test_the_same_place_registering_again_is_not_a_duplicate(sandbox):
    _write(sandbox, "twice_mod.py", """
        from test_registry import Entry
        import test_registry
        test_registry.REG.register("x", Entry("x"))
    """)
    import importlib

    global REG
    REG = Registry("thing", entry_type=Entry)
    mod = importlib.import_module("twice_mod")
    importlib.reload(mod)                        # a module executed twice: same file and line
    assert REG.names() == ["x"]


def test_aliases_and_case_insensitive_names():
    reg: Registry[Entry] = Registry("dataset", normalize=str.lower)
    reg.register("live", Entry("live", aliases=("LIVE-IQA",)), aliases=("LIVE-IQA",))
    assert reg.get("LIVE").name == reg.get("live-iqa").name == "live"
    with pytest.raises(DuplicateNameError, match="'live-iqa' is registered twice"):
        reg.register("other", Entry("other"), aliases=("Live-IQA",))


def test_lazy_entries_are_imported_on_first_use_only(sandbox):
    _write(sandbox, "lazy_attr.py", """
        from test_registry import Entry
        THING = Entry("late", 7)
    """)
    _write(sandbox, "lazy_self.py", """
        import test_registry
        from test_registry import Entry
        test_registry.LAZY.register("selfreg", Entry("selfreg", 3))
    """)
    global LAZY
    LAZY = Registry("thing", entry_type=Entry)
    LAZY.register_lazy("late", "lazy_attr:THING")
    LAZY.register_lazy("selfreg", "lazy_self")
    assert "lazy_attr" not in sys.modules and set(LAZY.names()) == {"late", "selfreg"}
    assert LAZY.get("late").value == 7 and "lazy_attr" in sys.modules
    assert LAZY.get("selfreg").value == 3
    with pytest.raises(ValueError, match="expected 'module:attr'"):
        LAZY.register_lazy("bad", "mod:")


def test_a_broken_lazy_entry_names_itself_and_is_skipped_when_listing(sandbox):
    _write(sandbox, "lazy_broken.py", "raise RuntimeError('boom')\n")
    reg: Registry[Entry] = Registry("thing", entry_type=Entry)
    reg.register("ok", Entry("ok"))
    reg.register_lazy("bad", "lazy_broken:THING")
    reg.register_lazy("wrong", "test_registry:Entry")        # a class, not an entry
    with pytest.warns(RuntimeWarning) as caught:
        assert [e.name for e in reg.values()] == ["ok"]
    msgs = sorted(str(w.message) for w in caught)
    assert len(msgs) == 2 and "'bad'" in msgs[1] and "cannot be loaded: RuntimeError: boom" in msgs[1]
    with pytest.raises(PluginError, match="RuntimeError: boom"):
        reg.get("bad")
    with pytest.raises(PluginError, match="did not register a thing named 'wrong'"):
        reg.get("wrong")
    assert set(reg.broken) == {"bad", "wrong"}


def test_builtins_are_every_public_module_of_the_packages(sandbox):
    global PKG
    PKG = Registry("thing", entry_type=Entry, packages=("regpkg",))
    _write(sandbox, "regpkg/__init__.py", "")
    for mod in ("one", "two", "_private"):
        _write(sandbox, f"regpkg/{mod}.py", f"""
            import test_registry
            test_registry.PKG.register("{mod}", test_registry.Entry("{mod}"))
        """)
    assert PKG.names() == ["one", "two"]                      # no list of modules anywhere
    assert PKG.is_builtin("one") is False                     # not a module of iqabench itself


def test_entry_points_become_lazy_entries_and_clash_with_builtins_by_name(sandbox):
    _write(sandbox, "ep_plugin.py", """
        from test_registry import Entry
        MINE = Entry("mine", 5)
        CLASH = Entry("a", 6)
    """)
    _dist(sandbox, "ep_plugin", {"iqabench.test_things": {"mine": "ep_plugin:MINE"}})
    reg: Registry[Entry] = Registry("thing", group="iqabench.test_things", entry_type=Entry)
    assert reg.get("mine").value == 5
    assert "entry point 'mine = ep_plugin:MINE' (group iqabench.test_things) of distribution ep_plugin 0.1" \
        == reg.origin("mine")
    reg2: Registry[Entry] = Registry("thing", group="iqabench.test_clash", entry_type=Entry)
    reg2.register("a", Entry("a"))
    _dist(sandbox, "ep_clash", {"iqabench.test_clash": {"a": "ep_plugin:CLASH"}})
    with pytest.raises(DuplicateNameError) as err:
        reg2.names()
    assert "test_registry.py:" in str(err.value) and "entry point 'a = ep_plugin:CLASH'" in str(err.value)


def test_temporarily_replaces_and_restores():
    reg: Registry[Entry] = Registry("thing", entry_type=Entry)
    reg.register("a", Entry("a", 1))
    with reg.temporarily(Entry("a", 2), Entry("b")):
        assert reg.get("a").value == 2 and set(reg.names()) == {"a", "b"}
        with reg.temporarily(Entry("c"), only=True):
            assert reg.names() == ["c"]
        assert set(reg.names()) == {"a", "b"}
    assert reg.names() == ["a"] and reg.get("a").value == 1


# --------------------------------------------------------------------------- the project's registries
def test_register_method_refuses_a_second_brisque():
    """Before: register_method silently replaced an existing method."""
    from benchmark.methods import MethodInfo, get_method_info, register_method

    brisque = get_method_info("brisque")
    with pytest.raises(DuplicateNameError) as err:
        register_method(MethodInfo("brisque", lambda ctx: None, label="Mine"))
    assert "features/brisque.py:" in str(err.value) and "test_registry.py:" in str(err.value)
    assert get_method_info("brisque") is brisque


def test_every_builtin_is_found_without_a_list():
    from benchmark.datasets.base import DATASETS
    from benchmark.methods.base import METHODS
    from features.extraction import EXTRACTORS
    from features.fullref import FR_METRICS

    assert {"brisque", "bliinds2", "diivine", "cues", "niqe"} <= set(EXTRACTORS.names())
    assert {"psnr", "ssim", "ms_ssim", "fsimc", "gmsd", "vif"} == set(FR_METRICS.names())
    assert {"live", "csiq", "tid2008", "tid2013", "kadid10k", "synth", "biq2021"} <= set(DATASETS.names())
    for name in ("brisque", "s3", "niqe", "cornia", "psnr", "kang_cnn", "mobilenet_v2_svr"):
        assert name in METHODS and METHODS.is_builtin(name)


def test_metadata_is_declared_once_beside_the_code():
    """An FR metric's direction, an extractor's label and a score's direction come from the module
    that computes them (before: written again in benchmark/methods)."""
    from benchmark.methods import get_method_info
    from features.extraction import get_extractor
    from features.fullref import get_metric

    for name in ("psnr", "ssim", "ms_ssim", "fsimc", "gmsd", "vif"):
        m, info = get_metric(name), get_method_info(name)
        assert (info.higher_better, info.label, info.paper, info.score_range, info.version) == \
            (m.higher_better, m.label, m.paper, m.score_range, m.version)
        assert "features/fullref/" in get_metric.__globals__["FR_METRICS"].origin(name)
    assert get_method_info("gmsd").higher_better is False
    assert get_method_info("brisque").label == get_extractor("brisque").label == "BRISQUE"
    assert get_method_info("niqe").higher_better is False
    assert get_method_info("s3").paper.startswith("Vu, Phan & Chandler")


def test_method_info_defaults_and_capability_flags():
    from benchmark.methods import MethodInfo

    nr = MethodInfo("x", lambda ctx: None)
    assert (nr.kind, nr.group, nr.suite, nr.preset_dependent) == ("NR", "NR hand-crafted", "classical", False)
    net = MethodInfo("y", lambda ctx: None, trainable=True, trains_network=True)
    assert (net.group, net.suite, net.preset_dependent) == ("NR deep", "deep", True)
    fr = MethodInfo("z", lambda ctx: None, kind="FR")
    assert (fr.group, fr.suite) == ("FR", "fr")
    with pytest.raises(ValueError, match="group must be one of"):
        MethodInfo("w", lambda ctx: None, group="mine")
    meta = net.metadata()
    assert MethodInfo.from_metadata(meta).metadata() == meta
    with pytest.raises(RuntimeError, match="known here only from its saved predictions"):
        MethodInfo.from_metadata(meta).factory(None)


def test_register_method_decorates_a_class_with_the_run_context_it_asks_for():
    from benchmark.methods import RunContext, get_method_info, register_method
    from benchmark.methods.base import METHODS

    with METHODS.temporarily():
        @register_method("ctx_probe", label="Probe", version="3")
        class Probe:
            """A probe. More text."""

            def __init__(self, n_jobs=1, random_state=None, other="x"):
                self.n_jobs, self.random_state, self.other = n_jobs, random_state, other

        info = get_method_info("ctx_probe")
        est = info.factory(RunContext(n_jobs=4, seed=7))
        assert (est.n_jobs, est.random_state, est.other) == (4, 7, "x")
        assert (info.label, info.version, info.description) == ("Probe", "3", "A probe. More text.")
    assert "ctx_probe" not in METHODS


def test_legacy_dict_view_of_methods_still_patches(monkeypatch):
    """Older tests (``monkeypatch.setitem(base._METHODS, ...)``) keep working."""
    import dataclasses

    from benchmark.methods import base, get_method_info

    psnr = get_method_info("psnr")
    monkeypatch.setitem(base._METHODS, "psnr", dataclasses.replace(psnr, label="patched"))
    assert get_method_info("psnr").label == "patched"
    monkeypatch.undo()
    assert get_method_info("psnr") is psnr
