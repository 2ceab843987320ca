"""GPU catalogue: aliases, ambiguity, suggestions and NVML product names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.gpus import all_models, get_model, lookup, model_from_nvml, resolve_gpu
from core.errors import AmbiguousChoice, GrammarError

REQUIRED = {
    "RTX 3090": 24,
    "RTX 4090": 24,
    "RTX 5090": 32,
    "RTX A6000": 48,
    "L4": 24,
    "L40S": 48,
    "A100 40GB": 40,
    "A100 80GB": 80,
    "H100 80GB": 80,
    "H200": 141,
}


def test_catalogue_has_the_required_models_with_their_memory() -> None:
    by_name = {m.name: m.vram_gb for m in all_models()}
    assert {name: by_name.get(name) for name in REQUIRED} == REQUIRED
    assert len({m.key for m in all_models()}) == len(all_models())


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.key)
def test_every_key_and_display_name_resolves_to_its_model(model) -> None:
    assert resolve_gpu(model.key) is model
    assert resolve_gpu(model.name) is model
    assert get_model(model.key) is model


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("4090", "rtx4090"),
        ("rtx4090", "rtx4090"),
        ("RTX 4090", "rtx4090"),
        ("rtx-4090", "rtx4090"),
        ("rtx_4090", "rtx4090"),
        ("geforce rtx 4090", "rtx4090"),
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("4090 24gb", "rtx4090"),
        ("３０９０", "rtx3090"),
        ("5090", "rtx5090"),
        ("a6000", "rtxa6000"),
        ("RTX A6000", "rtxa6000"),
        ("l4", "l4"),
        ("L40S", "l40s"),
        ("l40", "l40"),
        ("h100", "h100"),
        ("H100 80GB", "h100"),
        ("h200", "h200"),
        ("a100-80", "a100-80gb"),
        ("a100 80gb", "a100-80gb"),
        ("A100_80GB", "a100-80gb"),
        ("a100-40gb", "a100-40gb"),
        ("a100 40", "a100-40gb"),
    ],
)
def test_aliases(text: str, key: str) -> None:
    assert resolve_gpu(text).key == key


def test_ambiguous_alias_asks_which_one_and_choices_resolve() -> None:
    with pytest.raises(AmbiguousChoice) as caught:
        resolve_gpu("a100")
    assert caught.value.user_message == "'a100' matches several GPUs — which one?"
    assert caught.value.choices == ["A100 40GB", "A100 80GB"]
    assert [resolve_gpu(c).key for c in caught.value.choices] == ["a100-40gb", "a100-80gb"]
    assert isinstance(caught.value, GrammarError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4900", "Unknown GPU '4900' — did you mean RTX 4090?"),
        ("h1000", "Unknown GPU 'h1000' — did you mean H100 80GB?"),
        ("a600", "Unknown GPU 'a600' — did you mean RTX A6000?"),
        (
            "potato",
            "Unknown GPU 'potato' — known models include RTX 3090, RTX 4080, RTX 4090, "
            "RTX 5090, RTX A6000, RTX 6000 Ada; see /gpus.",
        ),
        ("", "Which GPU? Try 4090, a6000 or h100."),
        ("\x00\u200b", "Which GPU? Try 4090, a6000 or h100."),
    ],
)
def test_unknown_gpu_suggests(text: str, message: str) -> None:
    with pytest.raises(GrammarError) as caught:
        resolve_gpu(text)
    assert caught.value.user_message == message
    assert not isinstance(caught.value, AmbiguousChoice)


def test_unknown_gpu_echo_is_short_and_clean() -> None:
    with pytest.raises(GrammarError) as caught:
        resolve_gpu("<script>\x00alert(1)</script>" + "x" * 10_000)
    message = caught.value.user_message
    assert "\x00" not in message
    echoed = "<script>alert(1)</script>" + "x" * 14 + "…"  # 40 characters in all
    assert message.startswith(f"Unknown GPU '{echoed}' — known models include")


def test_get_model_missing_is_none() -> None:
    assert get_model("rtx9999") is None
    assert get_model("RTX 4090") is None  # canonical keys only


@pytest.mark.parametrize(
    ("product", "key"),
    [
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("NVIDIA GeForce RTX 3090", "rtx3090"),
        ("NVIDIA GeForce RTX 5090", "rtx5090"),
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA H100 PCIe", "h100"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
        ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
        ("NVIDIA A100-PCIE-40GB", "a100-40gb"),
        ("NVIDIA A100 80GB PCIe", "a100-80gb"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA RTX A6000", "rtxa6000"),
        ("NVIDIA RTX 6000 Ada Generation", "rtx6000ada"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA L40S", "l40s"),
        (b"NVIDIA GeForce RTX 4090", "rtx4090"),
    ],
)
def test_nvml_product_names(product: str | bytes, key: str) -> None:
    model = model_from_nvml(product)
    assert model is not None and model.key == key


@pytest.mark.parametrize(
    "product",
    ["NVIDIA GeForce RTX 4090 D", "NVIDIA H100 NVL", "Tesla V100-SXM2-16GB", "", "NVIDIA A100"],
)
def test_nvml_names_outside_the_catalogue_are_none(product: str) -> None:
    assert model_from_nvml(product) is None


def test_nvml_memory_settles_a_shared_name() -> None:
    assert model_from_nvml("NVIDIA A100", memory_mib=81_920).key == "a100-80gb"
    assert model_from_nvml("NVIDIA A100", memory_mib=40_960).key == "a100-40gb"


def test_lookup_lists_every_match() -> None:
    assert [m.key for m in lookup("a100")] == ["a100-40gb", "a100-80gb"]
    assert lookup("nothing") == ()
    assert lookup("4090" * 100) == ()


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_resolve_gpu_only_ever_raises_grammar_error(text: str) -> None:
    try:
        model = resolve_gpu(text)
    except GrammarError as exc:
        assert len(exc.user_message) < 200
    else:
        assert model in all_models()
