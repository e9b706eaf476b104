"""Each recipe's stages equal what the shipped model's card records."""

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest

from mne_piunet import read_model
from mne_piunet.training import TrainConfig

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def recipes():
    sys.path.insert(0, str(RECIPES))
    try:
        names = ("small", "default", "meg", "eeg_meg")
        yield {name: importlib.import_module(name) for name in names}
    finally:
        sys.path.remove(str(RECIPES))


def _chain(card):
    """The training cards of a network's stages, first stage first."""
    chain = []
    while card:
        chain.append(card)
        card = card.get("pretrained")
    return chain[::-1]


def _assert_stages_match(stages, card):
    chain = _chain(card)
    assert len(stages) == len(chain)
    for (name, config, _), stage in zip(stages, chain, strict=True):
        recorded = TrainConfig.from_dict(stage["config"])
        # the card's n_steps is the cap the run was given; steps what it ran
        recorded = dataclasses.replace(recorded, n_steps=stage["steps"])
        assert config == recorded, name


def test_small_recipe_equals_card(recipes):
    model = read_model("small")
    _assert_stages_match(recipes["small"].STAGES, model.info["training"])


def test_default_recipe_equals_card(recipes):
    default = recipes["default"]
    members = read_model("default").info["ensemble"]["members"]
    assert len(members) == len(default.MEMBERS)
    for name, card in zip(default.MEMBERS, members, strict=True):
        _assert_stages_match(_stages_of(default, name), card["training"])


def _stages_of(recipe, name):
    """A stage of ``recipe.STAGES`` and the stages before it, first first."""
    by_name = {stage[0]: stage for stage in recipe.STAGES}
    stages = [by_name[name]]
    while stages[0][2] is not None:
        stages.insert(0, by_name[stages[0][2]])
    return stages


@pytest.mark.parametrize(
    "model_name, recipe_name, ch_types",
    [("meg", "meg", ["grad", "mag"]), ("eeg-meg", "eeg_meg", ["eeg", "grad", "mag"])],
)
def test_meg_recipe_equals_card(recipes, model_name, recipe_name, ch_types):
    """The MEG and EEG+MEG models: the default's first network as it ships,
    and its second network's EEG stages followed by the recipe's stage."""
    default, meg = recipes["default"], recipes[recipe_name]
    model = read_model(model_name)
    assert model.info["head_model"]["ch_types"] == ch_types
    assert model.info["head_model"]["n_forwards"] == recipes["meg"].N_POSITIONS
    members = model.info["ensemble"]["members"]
    assert [card["source"] for card in members] == list(meg.MEMBERS)
    eeg = read_model("default").info
    assert members[0]["training"] == eeg["ensemble"]["members"][0]["training"]
    assert members[0]["head_model"] == eeg["head_model"]  # its own, kept
    (name, config, start) = meg.STAGES[0]
    eeg_stages = _stages_of(default, default.MEMBERS[int(start.split(":")[1])])
    _assert_stages_match([*eeg_stages, (name, config, start)], members[1]["training"])
